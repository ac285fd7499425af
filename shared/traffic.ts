/**
 * Traffic fields: what `RELAY_LOG_TRAFFIC=1` adds to the relay's existing log
 * lines so `npm start`'s inspector (deploy/local/inspector) can show each
 * request's headers and body and the headers sent to each target. Off by
 * default: a deployed function computes none of it, and no line gains a field.
 * Credentials are masked here; the logger's secret and token scrubbing still
 * runs over every line as well.
 */
import type { HeaderMap } from './verify/scheme.js';
import type { LogFields } from './log.js';

/** Most body bytes a line carries (base64); a longer body is marked `truncated`. */
export const TRAFFIC_BODY_LIMIT = 64 * 1024;
/** Most bytes of a sent body a line previews. */
export const SENT_PREVIEW_LIMIT = 2048;

/** What stands in for the ID token the relay adds to every outbound request. */
export const MASKED_ID_TOKEN = 'Bearer [ID token, masked]';

const CREDENTIAL_HEADERS = new Set(['authorization', 'x-serverless-authorization', 'proxy-authorization', 'cookie', 'set-cookie']);

/** Headers with credential values replaced by `[masked]` (keeping an auth scheme such as `Bearer`); idempotent. */
export function maskHeaders(headers: HeaderMap): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (!CREDENTIAL_HEADERS.has(name) || value === MASKED_ID_TOKEN) out[name] = value;
    else out[name] = /^(Bearer|Basic) /i.test(value) ? `${value.split(' ')[0]} [masked]` : '[masked]';
  }
  return out;
}

/** `request` fields for "Request answered": masked headers, query and the body (base64, bounded). */
export function requestTraffic(request: { headers: HeaderMap; query: string; rawBody: Buffer }): LogFields {
  const { rawBody } = request;
  return {
    request: {
      headers: maskHeaders(request.headers),
      query: request.query,
      bytes: rawBody.length,
      bodyBase64: rawBody.subarray(0, TRAFFIC_BODY_LIMIT).toString('base64'),
      ...(rawBody.length > TRAFFIC_BODY_LIMIT ? { truncated: true } : {}),
    },
  };
}

/** `sent` fields for a delivery line: the headers sent (ID token masked) and a preview of the body. */
export function sentTraffic(headers: Record<string, string>, tokenHeader: string, body: Buffer | undefined): LogFields {
  const bytes = body?.length ?? 0;
  return {
    sent: {
      headers: { ...maskHeaders(headers), [tokenHeader]: MASKED_ID_TOKEN },
      bytes,
      previewBase64: body ? body.subarray(0, SENT_PREVIEW_LIMIT).toString('base64') : '',
    },
  };
}

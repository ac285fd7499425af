/**
 * "Send again" for a past request: the same route, query, headers and body,
 * signed afresh by the route's scheme with the local secrets, through the
 * same signers as `run-relay send` (shared/cli/sign.ts), so replay windows
 * and duplicate-delivery checks see a new delivery. Posted to the running
 * relay. A route that cannot be signed here is refused with the reason,
 * never sent unsigned.
 */
import type { RelayConfig } from '../../../shared/config/schema.js';
import { signRequest, SignError } from '../../../shared/cli/sign.js';
import type { StoredRequest } from './model.js';

/** Headers never copied from the past request: transport, proxies, and whatever was masked. */
const DROPPED = new Set([
  'host',
  'content-length',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'expect',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'forwarded',
]);

export class SendAgainError extends Error {
  override name = 'SendAgainError';
  constructor(
    message: string,
    readonly status = 422,
  ) {
    super(message);
  }
}

export interface SendAgainOptions {
  /** The webhook function's base URL, e.g. http://127.0.0.1:8080. */
  relayUrl: string;
  config: RelayConfig;
  /** Reads a secret by environment variable name; undefined when unset. */
  secret(envName: string): string | undefined;
  /** Mints a Google ID token (google-oidc routes); default: such routes cannot be sent again. */
  idToken?(audience: string): Promise<string>;
  fetch?: typeof fetch;
  /** Clock for timestamped signatures, ms since the epoch; default Date.now. */
  now?: () => number;
}

/** Headers and query for resending `stored`, signed for its route's scheme; throws SendAgainError when it cannot sign. */
export async function signAgain(
  stored: StoredRequest,
  options: Omit<SendAgainOptions, 'relayUrl' | 'fetch'>,
): Promise<{ headers: Record<string, string>; query: string }> {
  const route = options.config.routes[stored.route];
  if (!route) throw new SendAgainError(`No route named "${stored.route}" in the config in use`, 404);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(stored.headers)) if (!DROPPED.has(name) && !value.includes('[masked]')) headers[name] = value;
  const contentType = (headers['content-type'] ?? 'application/octet-stream').split(';')[0]!.trim().toLowerCase();
  try {
    const signed = await signRequest(route.verify, {
      body: stored.body,
      contentType,
      eventType: headers['x-github-event'],
      now: (options.now ?? Date.now)(),
      secret: (name) => {
        const value = options.secret(name);
        if (!value) throw new SendAgainError(`Route "${stored.route}" needs ${name}, which this process does not hold`);
        return value;
      },
      idToken: (audience) => {
        if (!options.idToken) throw new SendAgainError(`Route "${stored.route}" needs a Google ID token, and no token source was given`);
        return options.idToken(audience);
      },
    });
    // The fresh signature (and delivery id, timestamp) replace the past ones of the same names.
    return { headers: { ...headers, ...signed.headers }, query: signed.query || stored.query };
  } catch (error) {
    if (error instanceof SignError)
      throw new SendAgainError(`Cannot sign for route "${stored.route}" (scheme ${route.verify.scheme}): ${error.message}`);
    throw error;
  }
}

/** Posts `stored` to the relay again, freshly signed; resolves with the relay's answer. */
export async function sendAgain(stored: StoredRequest, options: SendAgainOptions): Promise<{ status: number; body: string }> {
  const { headers, query } = await signAgain(stored, options);
  const response = await (options.fetch ?? fetch)(`${options.relayUrl}/${stored.route}${query}`, {
    method: 'POST',
    headers,
    body: stored.body,
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, body: await response.text() };
}

/** An ID token for `audience` from a metadata server (npm start's emulator), the way Google's runtimes get one. */
export async function metadataIdToken(metadataUrl: string, audience: string, doFetch: typeof fetch = fetch): Promise<string> {
  const url = `${metadataUrl}/computeMetadata/v1/instance/service-accounts/default/identity?audience=${encodeURIComponent(audience)}&format=full`;
  const response = await doFetch(url, { headers: { 'metadata-flavor': 'Google' }, signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new SendAgainError(`The metadata server answered ${response.status} for an ID token`, 502);
  return (await response.text()).trim();
}

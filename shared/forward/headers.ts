/**
 * Which headers cross the relay, in each direction.
 */
import type { HeaderMap } from '../verify/scheme.js';

/** Headers that never reach a target, whatever the config says. */
export const NEVER_FORWARDED = new Set([
  'authorization',
  'x-serverless-authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'host',
  'content-length',
  'content-encoding',
  // hop-by-hop (RFC 9110 7.6.1)
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Sender headers passed on by default (lower-case). */
export const DEFAULT_FORWARDED = ['content-type', 'user-agent', 'accept', 'traceparent', 'tracestate', 'x-cloud-trace-context'];

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

export interface ClientInfo {
  /** The peer address the relay saw (the last hop). */
  remoteAddress?: string;
  /** The scheme the sender used, as the front end reported it. */
  protocol?: string;
}

/**
 * Headers for the outbound request: the allowlisted sender headers, the
 * idempotency key, and X-Forwarded-For/-Proto/-Host describing the sender.
 */
export function outboundHeaders(
  incoming: HeaderMap,
  allow: Iterable<string>,
  idempotencyKey: string,
  client: ClientInfo = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of allow) {
    const value = incoming[name];
    if (value !== undefined && !NEVER_FORWARDED.has(name)) out[name] = value;
  }
  out[IDEMPOTENCY_KEY_HEADER] = idempotencyKey;
  const priorFor = incoming['x-forwarded-for'];
  if (client.remoteAddress) out['x-forwarded-for'] = priorFor ? `${priorFor}, ${client.remoteAddress}` : client.remoteAddress;
  else if (priorFor) out['x-forwarded-for'] = priorFor;
  const proto = incoming['x-forwarded-proto']?.split(',')[0]?.trim() || client.protocol;
  if (proto) out['x-forwarded-proto'] = proto;
  const host = incoming['x-forwarded-host']?.split(',')[0]?.trim() || incoming['host'];
  if (host) out['x-forwarded-host'] = host;
  return out;
}

const RESPONSE_DROPPED = new Set([
  ...NEVER_FORWARDED,
  'www-authenticate',
  'server',
  'via',
  'alt-svc',
  'date',
  'x-cloud-trace-context',
]);

/** The target's response headers that may reach the sender: no Google, auth or hop-by-hop headers. */
export function responseHeaders(headers: { forEach(callback: (value: string, name: string) => void): void }): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (RESPONSE_DROPPED.has(name) || name.startsWith('x-goog') || name.startsWith('x-google') || name.startsWith('x-serverless')) return;
    out[name] = value;
  });
  return out;
}

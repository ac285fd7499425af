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
  // Would make a client wait for "100 Continue" before the body: never the sender's (or a publisher's) call.
  'expect',
]);

/** Sender headers passed on by default (lower-case). */
export const DEFAULT_FORWARDED = ['content-type', 'user-agent', 'accept', 'traceparent', 'tracestate', 'x-cloud-trace-context'];

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

/** Header naming the authenticated consumer for the target; only the relay's verification sets it. */
export const CONSUMER_HEADER = 'x-relay-consumer';

/** Where a target may want its ID token (`targets.<name>.tokenHeader`). */
export const TOKEN_HEADERS = ['authorization', 'x-serverless-authorization'] as const;

/**
 * Headers the relay sets itself on every outbound request: the idempotency
 * key, the consumer, the token. A value for one of these from a sender, a
 * config allowlist or an envelope is never passed on: the relay's own
 * value is the only one a target sees.
 */
export const RELAY_SET_HEADERS: ReadonlySet<string> = new Set<string>([IDEMPOTENCY_KEY_HEADER, CONSUMER_HEADER, ...TOKEN_HEADERS]);

/** True when a header from an event (sender, envelope, message attribute) may be passed to a target. */
export function isPassable(name: string): boolean {
  return !NEVER_FORWARDED.has(name) && !RELAY_SET_HEADERS.has(name);
}

/** `headers` without the ones no event may carry ({@link isPassable}); what envelopes store and deliveries start from. */
export function passableHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers)) if (isPassable(name)) out[name] = headers[name]!;
  return out;
}

/**
 * Every header the relay sets itself somewhere: those on every outbound
 * request ({@link RELAY_SET_HEADERS}), the schedule name on ticks and
 * X-Forwarded-*. Config refuses them in `forwardHeaders`, since a sender's
 * value never passes.
 */
export const RELAY_OWN_HEADERS: readonly string[] = [
  ...RELAY_SET_HEADERS,
  'x-relay-schedule',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
];

export interface ClientInfo {
  /** The peer address the relay saw (the last hop). */
  remoteAddress?: string;
  /** The scheme the sender used, as the front end reported it. */
  protocol?: string;
}

/**
 * The sender's headers a webhook event carries on: the allowlisted ones
 * (never credentials, hop-by-hop or relay-set headers), and
 * X-Forwarded-For/-Proto/-Host describing the sender. The idempotency key
 * and consumer are added by `outboundRequests` (./outbound.ts).
 */
export function senderHeaders(incoming: HeaderMap, allow: Iterable<string>, client: ClientInfo = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of allow) {
    const value = Object.hasOwn(incoming, name) ? incoming[name] : undefined;
    if (value !== undefined && isPassable(name)) out[name] = value;
  }
  const priorFor = incoming['x-forwarded-for'];
  if (client.remoteAddress) out['x-forwarded-for'] = priorFor ? `${priorFor}, ${client.remoteAddress}` : client.remoteAddress;
  else if (priorFor) out['x-forwarded-for'] = priorFor;
  const proto = incoming['x-forwarded-proto']?.split(',')[0]?.trim() || client.protocol;
  if (proto) out['x-forwarded-proto'] = proto;
  const host = incoming['x-forwarded-host']?.split(',')[0]?.trim() || incoming['host'];
  if (host) out['x-forwarded-host'] = host;
  return out;
}

const RESPONSE_DROPPED = new Set([...NEVER_FORWARDED, 'www-authenticate', 'server', 'via', 'alt-svc', 'date', 'x-cloud-trace-context']);

/** The target's response headers that may reach the sender: no Google, auth or hop-by-hop headers. */
export function responseHeaders(headers: { forEach(callback: (value: string, name: string) => void): void }): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (RESPONSE_DROPPED.has(name) || name.startsWith('x-goog') || name.startsWith('x-google') || name.startsWith('x-serverless')) return;
    out[name] = value;
  });
  return out;
}

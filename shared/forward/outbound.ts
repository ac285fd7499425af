/**
 * The one place an event becomes outbound requests: for each destination,
 * the path with the event's query merged in, the event's passable headers,
 * the idempotency key and the consumer. The sync route sends them, async
 * acceptance and fan-out store them as envelopes, the Pub/Sub deliverer and
 * schedules (through the deliverer) send them.
 */
import type { Destination } from '../config/delivery-schema.js';
import { deriveKey } from '../envelope.js';
import { CONSUMER_HEADER, IDEMPOTENCY_KEY_HEADER, passableHeaders } from './headers.js';

export interface OutboundEvent {
  /** Headers the event carries; relay-set, credential and hop-by-hop ones are dropped here. */
  headers: Readonly<Record<string, string>>;
  body?: Buffer;
  /** The sender's query string (`?q=1` or ""), merged into every destination's path. */
  query?: string;
  /** The event's own key: a delivery id, a message id, a schedule tick. */
  eventKey: string;
  /**
   * `event` (a sync webhook, or an envelope naming its one target): every
   * request carries `eventKey` as it is. `per-target`: each carries
   * `<eventKey>:<target>`, so each target de-duplicates on its own.
   */
  keys: 'event' | 'per-target';
  /** The consumer the relay's own verification named; nothing else sets {@link CONSUMER_HEADER}. */
  consumer?: string;
}

export interface OutboundRequest {
  target: string;
  method: Destination['method'];
  /** Path and query on the target. */
  path: string;
  /** Everything but the token, which the forwarder adds per attempt. */
  headers: Record<string, string>;
  body?: Buffer;
  idempotencyKey: string;
}

/**
 * A configured path with the sender's query appended: `/x?a=1` and `?q=1`
 * give `/x?a=1&q=1`, `/x` and `?q=1` give `/x?q=1`.
 */
export function joinQuery(path: string, query: string | undefined): string {
  const q = query?.startsWith('?') ? query.slice(1) : (query ?? '');
  if (!q) return path;
  const at = path.indexOf('?');
  if (at < 0) return `${path}?${q}`;
  return path.endsWith('?') || path.endsWith('&') ? path + q : `${path}&${q}`;
}

/** One outbound request per destination, in order. */
export function outboundRequests(event: OutboundEvent, destinations: readonly Destination[]): OutboundRequest[] {
  const shared = passableHeaders(event.headers);
  if (event.consumer) shared[CONSUMER_HEADER] = event.consumer;
  return destinations.map((d) => {
    const idempotencyKey = event.keys === 'event' ? event.eventKey : deriveKey(event.eventKey, d.target);
    // One destination (the common case) takes the shared headers themselves: no copy per request.
    const headers = destinations.length === 1 ? shared : { ...shared };
    headers[IDEMPOTENCY_KEY_HEADER] = idempotencyKey;
    return {
      target: d.target,
      method: d.method,
      path: joinQuery(d.path, event.query),
      headers,
      ...(event.body !== undefined ? { body: event.body } : {}),
      idempotencyKey,
    };
  });
}

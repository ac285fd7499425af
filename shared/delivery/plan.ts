/**
 * Turns "this event, to these destinations" into one per-target envelope
 * each, with its own idempotency key derived from the event key and the
 * target. Used by async routes and fan-out alike; the requests themselves
 * come from the one builder, {@link outboundRequests}.
 */
import type { Destination } from '../config/delivery-schema.js';
import type { Envelope, EnvelopeInput } from '../envelope.js';
import { passableHeaders } from '../forward/headers.js';
import { outboundRequests, type OutboundRequest } from '../forward/outbound.js';

export interface EventToPlan {
  destinations: readonly Destination[];
  /** The event's headers; relay-set ones (idempotency key, consumer, token) are never stored. */
  headers: Readonly<Record<string, string>>;
  body?: Buffer;
  /** The event's own key (delivery id, message id, schedule tick). */
  eventKey: string;
  origin: Envelope['origin'];
  /** Merged into each destination's path (a webhook's query string). */
  query?: string;
}

/**
 * The envelope that asks the `pubsub` function to send `request` later.
 * Its headers never carry what the relay sets itself: the deliverer adds the
 * key again from `idempotencyKey`, and a consumer cannot travel through a
 * topic anyone with publish rights can write to.
 */
export function requestEnvelope(
  request: OutboundRequest,
  origin: Envelope['origin'],
): EnvelopeInput & { target: string; idempotencyKey: string } {
  return {
    v: 1,
    target: request.target,
    method: request.method,
    path: request.path,
    headers: passableHeaders(request.headers),
    ...(request.body && request.body.length > 0 ? { bodyBase64: request.body.toString('base64') } : {}),
    idempotencyKey: request.idempotencyKey,
    origin,
  };
}

/** One envelope per destination, each naming a single target. */
export function planEnvelopes(event: EventToPlan): (EnvelopeInput & { target: string; idempotencyKey: string })[] {
  const requests = outboundRequests(
    { headers: event.headers, body: event.body, query: event.query, eventKey: event.eventKey, keys: 'per-target' },
    event.destinations,
  );
  return requests.map((r) => requestEnvelope(r, event.origin));
}

/**
 * Turns "this event, to these destinations" into one per-target envelope
 * each, with its own idempotency key derived from the event key and the
 * target. Used by async routes, schedules and fan-out alike.
 */
import type { Destination } from '../config/delivery-schema.js';
import { deriveKey, type Envelope, type EnvelopeInput } from '../envelope.js';

export interface EventToPlan {
  destinations: readonly Destination[];
  /** Headers for the target (no idempotency key, no token). */
  headers: Record<string, string>;
  body?: Buffer;
  /** The event's own key (delivery id, message id, schedule tick). */
  eventKey: string;
  origin: Envelope['origin'];
  route?: string;
  /** Appended to each destination's path (a webhook's query string). */
  query?: string;
}

/** One envelope per destination, each naming a single target. */
export function planEnvelopes(event: EventToPlan): EnvelopeInput[] {
  return event.destinations.map((d) => ({
    v: 1,
    target: d.target,
    method: d.method,
    path: d.path + (event.query ?? ''),
    headers: event.headers,
    ...(event.body && event.body.length > 0 ? { bodyBase64: event.body.toString('base64') } : {}),
    idempotencyKey: deriveKey(event.eventKey, d.target),
    origin: event.origin,
  }));
}

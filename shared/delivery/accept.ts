/**
 * Async mode of a webhook route: after verification, publish one envelope
 * per target and answer 202 once Pub/Sub has stored every one of them. If
 * any publish fails, answer 503 so the sender retries: nothing is accepted
 * that is not stored.
 */
import type { Destination } from '../config/delivery-schema.js';
import { envelopeMessage } from '../envelope.js';
import { RelayError } from '../errors.js';
import { json, type RelayResponse } from '../http.js';
import type { Logger } from '../log.js';
import type { Publisher } from '../pubsub/publisher.js';
import { planEnvelopes } from './plan.js';

export interface AsyncAcceptance {
  publisher: Publisher | undefined;
  topic: string;
  route: string;
  destinations: readonly Destination[];
  /** The sender's headers as the sync path would pass them (no key, no consumer: those are the relay's). */
  headers: Record<string, string>;
  body: Buffer;
  query: string;
  eventKey: string;
  acceptedAt: Date;
  /** Bound on the publishes (the route's `deadlineMs`); past it the sender gets 503. Default: the publisher's own. */
  timeoutMs?: number;
}

/** Publishes the route's per-target envelopes; resolves with the answer for the sender. */
export async function acceptAsync(a: AsyncAcceptance, log: Logger): Promise<RelayResponse> {
  if (!a.publisher) throw new RelayError('unavailable', 'Async delivery is not available: no publisher configured');
  const envelopes = planEnvelopes({
    destinations: a.destinations,
    headers: a.headers,
    body: a.body,
    query: a.query,
    eventKey: a.eventKey,
    origin: { kind: 'webhook', name: a.route, at: a.acceptedAt.toISOString() },
  });
  const published = await Promise.allSettled(
    envelopes.map((e) =>
      a.publisher!.publish(a.topic, envelopeMessage(e), a.timeoutMs === undefined ? undefined : { timeoutMs: a.timeoutMs }),
    ),
  );
  const failed = published.filter((p): p is PromiseRejectedResult => p.status === 'rejected');
  if (failed.length > 0) {
    log.error('Publishing to Pub/Sub failed; the sender is told to retry', {
      error: failed[0]!.reason,
      failed: failed.length,
      of: envelopes.length,
      idempotencyKey: a.eventKey,
    });
    throw new RelayError('unavailable', 'The event could not be stored; retry later', { cause: failed[0]!.reason });
  }
  log.info('Accepted for async delivery', { idempotencyKey: a.eventKey, deliveries: envelopes.length });
  return json(202, {
    accepted: true,
    idempotencyKey: a.eventKey,
    deliveries: envelopes.map((e) => ({ target: e.target, idempotencyKey: e.idempotencyKey })),
  });
}

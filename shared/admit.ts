/**
 * The front door of a webhook route, after the size check and before any
 * forwarding: signature, the sender's challenge, the event filter, the
 * payload contract and replay memory, in that order. The body is parsed only
 * once the signature passed.
 */
import type { RouteConfig } from './config/schema.js';
import { compileContract, type Contract } from './contract/contract.js';
import { json, type RelayRequest, type RelayResponse } from './http.js';
import type { Logger } from './log.js';
import { parseBody } from './verify/body.js';
import { createVerifier, replayWindowSecondsOf } from './verify/registry.js';
import type { ReplayStore } from './verify/replay.js';
import type { SchemeContext, Verified, Verifier } from './verify/scheme.js';

export type Admission =
  | { kind: 'answer'; response: RelayResponse }
  | {
      kind: 'forward';
      verified: Verified;
      /** Report the outcome: delivered ids are remembered, failed ones forgotten. */ settle(delivered: boolean): void;
    };

export interface Gate {
  /**
   * Admits or answers a request. Synchronous when the route's verifier is (every HMAC scheme) and no duplicate is in
   * flight, the common case: under the Functions Framework's per-request domain each promise costs, so none is made.
   */
  admit(request: RelayRequest, now: number, log: Logger): Admission | Promise<Admission>;
}

/** How many times a duplicate waits for an in-flight first delivery before going ahead itself. */
const MAX_WAITS = 3;

/** Builds a route's gate once, at start-up (contracts compiled, keys decoded). */
export function createGate(name: string, route: RouteConfig, context: SchemeContext, replay: ReplayStore): Gate {
  const verifier: Verifier = createVerifier(route.verify, context);
  const contract: Contract = compileContract(route.contract);
  const events = route.events ? new Set(route.events) : undefined;
  const windowMs = replayWindowSecondsOf(route.verify) * 1000;

  /** The steps after the signature, on what the verifier learned. */
  function decide(request: RelayRequest, verified: Verified, now: number, log: Logger): Admission | Promise<Admission> {
    const { eventType, deliveryId } = verified;
    if (verified.reply) {
      log.info("Answered the sender's challenge", { eventType });
      return { kind: 'answer', response: json(verified.reply.status, verified.reply.body) };
    }
    if (events && (eventType === undefined || !events.has(eventType))) {
      log.info("Event dropped: not in this route's events list", { eventType: eventType ?? null, deliveryId });
      return { kind: 'answer', response: json(200, { dropped: true, eventType: eventType ?? null }) };
    }
    if (contract.applies(eventType)) contract.check(verified.body ?? parseBody(request.headers, request.rawBody), eventType);
    if (!deliveryId) return { kind: 'forward', verified, settle: () => {} };
    return claim(`${name}\u0000${deliveryId}`, verified, now, log, 0);
  }

  /** Claims the delivery id; a duplicate in flight is waited for (at most {@link MAX_WAITS} times), the only async step. */
  function claim(key: string, verified: Verified, now: number, log: Logger, waits: number): Admission | Promise<Admission> {
    const found = replay.claim(key, now, windowMs);
    if (found.state === 'duplicate') {
      log.info('Duplicate delivery answered without forwarding', { deliveryId: verified.deliveryId, eventType: verified.eventType });
      return { kind: 'answer', response: json(200, { duplicate: true, deliveryId: verified.deliveryId }) };
    }
    if (found.state === 'new') return { kind: 'forward', verified, settle: found.settle };
    if (waits >= MAX_WAITS) return { kind: 'forward', verified, settle: () => {} };
    return found.settled.then(() => claim(key, verified, now, log, waits + 1));
  }

  return {
    admit(request, now, log) {
      const verified = verifier.verify({ headers: request.headers, rawBody: request.rawBody, now, query: request.query });
      return verified instanceof Promise ? verified.then((v) => decide(request, v, now, log)) : decide(request, verified, now, log);
    },
  };
}

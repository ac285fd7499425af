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
  | { kind: 'forward'; verified: Verified; /** Report the outcome: delivered ids are remembered, failed ones forgotten. */ settle(delivered: boolean): void };

export interface Gate {
  admit(request: RelayRequest, now: number, log: Logger): Promise<Admission>;
}

/** How many times a duplicate waits for an in-flight first delivery before going ahead itself. */
const MAX_WAITS = 3;

/** Builds a route's gate once, at start-up (contracts compiled, keys decoded). */
export function createGate(name: string, route: RouteConfig, context: SchemeContext, replay: ReplayStore): Gate {
  const verifier: Verifier = createVerifier(route.verify, context);
  const contract: Contract = compileContract(route.contract);
  const events = route.events ? new Set(route.events) : undefined;
  const windowMs = replayWindowSecondsOf(route.verify) * 1000;

  return {
    async admit(request, now, log) {
      const verified = await verifier.verify({ headers: request.headers, rawBody: request.rawBody, now, query: request.query });
      const { eventType, deliveryId } = verified;
      if (verified.reply) {
        log.info('Answered the sender\'s challenge', { eventType });
        return { kind: 'answer', response: json(verified.reply.status, verified.reply.body) };
      }
      if (events && (eventType === undefined || !events.has(eventType))) {
        log.info('Event dropped: not in this route\'s events list', { eventType: eventType ?? null, deliveryId });
        return { kind: 'answer', response: json(200, { dropped: true, eventType: eventType ?? null }) };
      }
      if (contract.applies(eventType)) contract.check(verified.body ?? parseBody(request.headers, request.rawBody), eventType);
      if (!deliveryId) return { kind: 'forward', verified, settle: () => {} };
      const key = `${name}\u0000${deliveryId}`;
      for (let waits = 0; ; waits++) {
        const claim = replay.claim(key, now, windowMs);
        if (claim.state === 'duplicate') {
          log.info('Duplicate delivery answered without forwarding', { deliveryId, eventType });
          return { kind: 'answer', response: json(200, { duplicate: true, deliveryId }) };
        }
        if (claim.state === 'new') return { kind: 'forward', verified, settle: claim.settle };
        if (waits >= MAX_WAITS) return { kind: 'forward', verified, settle: () => {} };
        await claim.settled;
      }
    },
  };
}

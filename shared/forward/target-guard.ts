/**
 * The one hook the sync route and the `pubsub` deliverer share around a
 * per-target call: the target's concurrency cap and circuit breaker
 * (`targets.<name>.maxConcurrency`, `targets.<name>.circuit`). A target with
 * neither runs its call untouched. State is per instance.
 *
 * Refusals are a RelayError `target_unavailable` (503, retryable) with
 * `retryAfterSeconds`, so the sender or Pub/Sub tries again later: a refused
 * call never turns a deliverable event into a lost one.
 */
import type { TargetConfig } from '../config/schema.js';
import { RelayError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { Circuit, type CallOutcome } from './circuit.js';
import { ConcurrencyLimit, LimitReachedError } from './concurrency.js';
import { Deadline } from './deadline.js';
import type { TargetResponse } from './forward.js';
import type { HttpClient } from './http-fetch.js';
import { isRetryableStatus } from './policy.js';

/** Errors that say the target is unhealthy; the rest (no token, unsendable request) say nothing about it. */
const TARGET_FAILURES = new Set(['target_unreachable', 'target_retryable_status', 'deadline_exceeded']);

/** How one forward call counts for the circuit: only what a retry could fix is a failure. */
export function outcomeOf(result: PromiseSettledResult<TargetResponse>): CallOutcome {
  if (result.status === 'fulfilled') return isRetryableStatus(result.value.status) ? 'failure' : 'success';
  const code = (result.reason as { code?: unknown })?.code;
  return typeof code === 'string' && TARGET_FAILURES.has(code) ? 'failure' : 'ignored';
}

export interface GuardCall {
  /** Sync requests wait for a free slot until the deadline; Pub/Sub deliveries do not wait. */
  wait: boolean;
  deadline: Deadline;
  /** For the log line when a circuit opens. */
  route?: string;
  /** How the call reaches the target. */
  client: HttpClient;
}

/** What the guarded call must use: its attempts go through `client`, and it stops when `deadline` ends. */
export interface Guarded {
  client: HttpClient;
  deadline: Deadline;
}

export interface TargetGuards {
  /**
   * Runs `call` for target `name` under its cap and circuit. A call admitted
   * while the circuit was closed makes no further attempt once it has opened
   * (the retry loop ends with `target_unavailable`): retries in flight do not
   * keep hammering a target the circuit has given up on.
   */
  run(name: string, call: (guarded: Guarded) => Promise<TargetResponse>, options: GuardCall): Promise<TargetResponse>;
  /** The circuit of `name`, when it has one (for tests and operators). */
  circuit(name: string): Circuit | undefined;
}

export interface TargetGuardsDeps {
  logger?: Logger;
  /** ms since the epoch; default Date.now. */
  now?: () => number;
}

interface Guard {
  circuit?: Circuit;
  limit?: ConcurrencyLimit;
  lastRoute?: string;
}

/** Builds the guards of every target once, at start-up. */
export function createTargetGuards(targets: Record<string, TargetConfig>, deps: TargetGuardsDeps = {}): TargetGuards {
  const logger = deps.logger ?? silentLogger;
  const guards = new Map<string, Guard>();
  for (const [name, target] of Object.entries(targets)) {
    if (!target.circuit && target.maxConcurrency === undefined) continue;
    const guard: Guard = {};
    if (target.maxConcurrency !== undefined) guard.limit = new ConcurrencyLimit(target.maxConcurrency);
    if (target.circuit) {
      guard.circuit = new Circuit(target.circuit, {
        now: deps.now,
        onChange: ({ state, from, calls, failures }) => {
          // One line when it opens and one when it closes; half-open is the quiet middle.
          if (state === 'open' && from !== 'half-open')
            logger.warn('Circuit opened: calls to the target are refused until it recovers', {
              target: name,
              route: guard.lastRoute,
              failures,
              calls,
              coolDownMs: target.circuit!.coolDownMs,
            });
          if (state === 'closed')
            logger.info('Circuit closed: the target answers again', {
              target: name,
              route: guard.lastRoute,
              probes: target.circuit!.probes,
            });
        },
      });
    }
    guards.set(name, guard);
  }

  async function guarded(
    name: string,
    guard: Guard,
    call: (guarded: Guarded) => Promise<TargetResponse>,
    options: GuardCall,
  ): Promise<TargetResponse> {
    let release: (() => void) | undefined;
    if (guard.limit) {
      try {
        release = await guard.limit.acquire({ wait: options.wait, signal: options.deadline.signal });
      } catch (error) {
        if (!(error instanceof LimitReachedError)) throw error;
        throw new RelayError(
          'target_unavailable',
          `Target ${name} has ${error.limit} calls in flight on this instance (maxConcurrency); retry later`,
          { retryAfterSeconds: 1, details: { target: name, reason: 'max_concurrency' } },
        );
      }
    }
    try {
      const permit = guard.circuit?.acquire();
      if (permit && !permit.allowed) {
        throw new RelayError('target_unavailable', `Target ${name} is failing; its circuit is open, retry later`, {
          retryAfterSeconds: Math.ceil(permit.retryAfterMs / 1000),
          details: { target: name, reason: 'circuit_open' },
        });
      }
      guard.lastRoute = options.route;
      let within: Guarded = { client: options.client, deadline: options.deadline };
      const circuit = guard.circuit;
      const probe = Boolean(permit?.allowed && permit.probe);
      let probeFailed = false;
      if (circuit && permit) {
        const stop = new AbortController();
        within = {
          deadline: Deadline.following(AbortSignal.any([options.deadline.signal, stop.signal])),
          client: {
            send(url, request, cancellation) {
              // Each attempt asks again: the circuit may have opened since this call was let in.
              const state = circuit.state;
              if (probeFailed || state === 'open' || (state === 'half-open' && !(permit.allowed && permit.probe))) {
                const refusal = new RelayError(
                  'target_unavailable',
                  `Target ${name} is failing; its circuit opened during this call, retry later`,
                  { retryAfterSeconds: Math.ceil(circuit.options.coolDownMs / 1000), details: { target: name, reason: 'circuit_open' } },
                );
                stop.abort(refusal);
                return Promise.reject(refusal);
              }
              const sent = options.client.send(url, request, cancellation);
              if (!probe) return sent;
              // A probe makes one attempt: its answer decides the circuit, and a failed one is not retried against a
              // target that is still down (the call ends with target_unavailable; the sender or Pub/Sub tries later).
              return sent.then(
                (answer) => {
                  if (isRetryableStatus(answer.status)) probeFailed = true;
                  return answer;
                },
                (error: unknown) => {
                  probeFailed = true;
                  throw error;
                },
              );
            },
          },
        };
      }
      const [result] = await Promise.allSettled([call(within)]);
      if (permit) permit.report(probeFailed ? 'failure' : outcomeOf(result));
      if (result.status === 'rejected') throw result.reason;
      return result.value;
    } finally {
      release?.();
    }
  }

  return {
    circuit: (name) => guards.get(name)?.circuit,
    run(name, call, options) {
      const guard = guards.get(name);
      // A target with neither cap nor circuit (the default) runs its call as it is: no promise, timer or signal added.
      return guard ? guarded(name, guard, call, options) : call({ client: options.client, deadline: options.deadline });
    },
  };
}

/**
 * The delivery policy, decided once: which target answers are worth another
 * attempt, and what a delivery's result means. The forwarder's in-function
 * retries, the sync answer and the Pub/Sub ack / nack / park decision all
 * ask here, so a status is treated the same on every path.
 */
import { RelayError } from '../errors.js';

/** Target statuses worth another attempt: the target may answer differently later. Any other non-2xx is its final word. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/** True for a status worth another attempt (408, 429, 500, 502, 503, 504); 501 and the other 4xx/5xx are not. */
export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUSES.has(status);
}

/** True for a failure worth another attempt within the same deadline (the error's own `retryable`, see errors.ts). */
export function isRetryableError(error: unknown): boolean {
  return error instanceof RelayError && error.retryable;
}

/** What one delivery came to: the target's last answer, or the failure that left none. */
export type DeliveryResult = { status: number } | { error: unknown };

export type Verdict = 'deliver' | 'retry' | 'park';

/** Why a delivery is parked rather than tried again (dead-letter reasons, see delivery/dead-letter.ts). */
export const PARK_REASONS = ['target_rejected', 'target_invalid_response', 'request_not_sendable'] as const;
export type ParkReason = (typeof PARK_REASONS)[number];

export type Decision = { verdict: 'deliver' } | { verdict: 'retry' } | { verdict: 'park'; reason: ParkReason };

/** Failures no later attempt can fix (or that must not be sent twice: the target may have acted). */
const PARKED_ERRORS: ReadonlySet<string> = new Set<ParkReason>(['target_invalid_response', 'request_not_sendable']);

/**
 * The decision for a delivery's result:
 * - a 2xx answer: `deliver`;
 * - a retryable status, or a failure a later attempt may not meet (unreachable, no token yet, out of time): `retry`;
 * - any other answer (`target_rejected`, 501 included), an answer that cannot be used, a request that can never be
 *   sent: `park`, with the reason.
 * Token failures are retried even when marked permanent: a grant just made takes minutes to reach IAM.
 */
export function decide(result: DeliveryResult): Decision {
  if ('status' in result) {
    if (result.status >= 200 && result.status < 300) return { verdict: 'deliver' };
    return isRetryableStatus(result.status) ? { verdict: 'retry' } : { verdict: 'park', reason: 'target_rejected' };
  }
  const { error } = result;
  if (error instanceof RelayError && PARKED_ERRORS.has(error.code)) return { verdict: 'park', reason: error.code as ParkReason };
  return { verdict: 'retry' };
}

/** {@link decide}'s verdict alone: `deliver`, `retry` or `park`. */
export function classify(result: DeliveryResult): Verdict {
  return decide(result).verdict;
}

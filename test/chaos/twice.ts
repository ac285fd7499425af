/**
 * Why a key reached its target more than once, from what each side saw: the
 * target's answers (chaotic.ts's trace) and the relay's log lines for that key.
 *
 * - `relay-forwarded-again`: the relay itself saw two or more 2xx for the key
 *   ("Delivered to target" twice): the store let a second delivery through.
 *   A fault of the relay.
 * - `answer-lost`: the relay saw at most one 2xx, and every other 200 the
 *   target sent belongs to an attempt the relay got no answer to (reset,
 *   attempt timeout, deadline). The relay cannot tell such an attempt from one
 *   the target never acted on, so it retries (at least once); the target
 *   de-duplicates on `Idempotency-Key`. Not something a store can stop.
 * - `unexplained`: neither; treated as a fault.
 */
import type { TargetCall } from './chaotic.js';

export type TwiceVerdict = 'relay-forwarded-again' | 'answer-lost' | 'unexplained';

/** A relay log line, parsed. */
export type LogLine = Record<string, unknown>;

export interface TwiceReport {
  key: string;
  verdict: TwiceVerdict;
  /** 200s the target sent for the key. */
  targetAnswered200: number;
  /** 2xx the relay saw for the key ("Delivered to target"), all instances. */
  relaySawDelivered: number;
  /** Attempts on the key that ended without an answer the relay could read. */
  attemptsWithoutAnswer: number;
}

/** True for a line saying an attempt (or the whole call) on the key ended without an answer. */
function withoutAnswer(line: LogLine): boolean {
  if (line.message === 'Target attempt failed') return line.status === undefined;
  // The deadline aborts an attempt without a line of its own; the deliverer's line says so.
  if (line.message === 'Delivery failed; Pub/Sub will redeliver')
    return (line.error as { code?: unknown } | undefined)?.code === 'deadline_exceeded';
  return false;
}

/** Classifies one key the target answered 200 more than once; `lines` are the relay's lines of every instance. */
export function classifyTwice(key: string, calls: readonly TargetCall[], lines: readonly LogLine[]): TwiceReport {
  const own = lines.filter((l) => l.idempotencyKey === key);
  const targetAnswered200 = calls.filter((c) => c.key === key && c.answer === 200).length;
  const relaySawDelivered = own.filter(
    (l) => l.message === 'Delivered to target' && typeof l.status === 'number' && l.status >= 200 && l.status < 300,
  ).length;
  const attemptsWithoutAnswer = own.filter(withoutAnswer).length;
  const unseen = targetAnswered200 - Math.min(relaySawDelivered, 1);
  const verdict: TwiceVerdict =
    relaySawDelivered >= 2 ? 'relay-forwarded-again' : unseen <= attemptsWithoutAnswer ? 'answer-lost' : 'unexplained';
  return { key, verdict, targetAnswered200, relaySawDelivered, attemptsWithoutAnswer };
}

/** The chaos runs' target behaviour, shared by chaos.ts and dedupe-chaos.ts. */
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { sendJson } from '../emulators/http-util.js';
import type { Behaviour, ReceivedRequest } from '../emulators/private-target.js';

const refusesForGood = (key: string) => createHash('sha256').update(key).digest()[0]! < 3; // ~1.2%

/** One call as the target saw it, for the chaos runs' per-key diagnostics. */
export interface TargetCall {
  key: string;
  /** ms since the epoch, when the target took the request. */
  at: number;
  answer: 200 | 422 | 503 | 'reset';
}

/**
 * A target behaviour failing `rate` of calls (503 or reset), refusing ~1% for good, counting 200s per key in
 * `delivered`; `trace`, when given, gets every call.
 */
export function chaotic(
  rate: number,
  stats: { failures: number; calls: number },
  delivered: Map<string, number>,
  trace?: (call: TargetCall) => void,
): Behaviour {
  return (req: ReceivedRequest, res: ServerResponse) => {
    stats.calls++;
    const key = String(req.headers['idempotency-key']);
    const answer = (a: TargetCall['answer']) => trace?.({ key, at: Date.now(), answer: a });
    if (refusesForGood(key)) {
      answer(422);
      return sendJson(res, 422, { error: 'refused for good' });
    }
    const roll = Math.random();
    if (roll < rate / 2) {
      stats.failures++;
      answer(503);
      return sendJson(res, 503, { error: 'flaky' });
    }
    if (roll < rate) {
      stats.failures++;
      answer('reset');
      res.socket?.resetAndDestroy();
      return;
    }
    delivered.set(key, (delivered.get(key) ?? 0) + 1);
    answer(200);
    sendJson(res, 200, { ok: true });
  };
}

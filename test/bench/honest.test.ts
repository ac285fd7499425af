import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  assertHonest,
  CountMismatchError,
  countsBetween,
  createCounter,
  roundProblems,
  type RoundTally,
  type TargetCounts,
} from './counts.js';
import { sampleDelivery } from './delivery.js';

const SECRET = 'bench-secret';
const reached = (over: Partial<TargetCounts> = {}): TargetCounts => ({
  received: 100,
  accepted: 100,
  refused: 0,
  keyed: 100,
  duplicateKeys: 0,
  ...over,
});
const tally = (over: Partial<RoundTally> = {}): RoundTally => ({
  what: '(c) run-relay',
  answered: 100,
  errors: 0,
  reached: reached(),
  keyed: true,
  ...over,
});

describe('the bench request', () => {
  it('carries a new delivery id on every request, so the replay cache cannot answer in place of relaying', () => {
    const delivery = sampleDelivery(SECRET);
    const ids = new Set(Array.from({ length: 1000 }, () => delivery.headers()['x-github-delivery']));
    expect(ids.size).toBe(1000);
  });

  it('stays validly signed whatever the delivery id (GitHub signs the body only)', () => {
    const delivery = sampleDelivery(SECRET);
    const expected = 'sha256=' + createHmac('sha256', SECRET).update(delivery.body).digest('hex');
    expect(delivery.headers()['x-hub-signature-256']).toBe(expected);
    expect(delivery.headers()['x-hub-signature-256']).toBe(expected);
  });
});

describe('the count check', () => {
  it('passes a round where every answered request reached the target once with a valid token', () => {
    expect(roundProblems(tally())).toEqual([]);
    expect(() => assertHonest([tally(), tally({ what: '(b2)', keyed: false, reached: reached({ keyed: 0 }) })])).not.toThrow();
  });

  it.each<[string, Partial<RoundTally>, RegExp]>([
    // Issue 11: one fixed delivery id, 4,780 answered, 23 reached the target.
    [
      'the replay cache answered in place of relaying',
      { answered: 4780, reached: reached({ received: 23, accepted: 23, keyed: 23 }) },
      /answered 4780 requests but the target accepted 23/,
    ],
    ['the target refused tokens', { reached: reached({ accepted: 90, refused: 10 }) }, /refused 10 requests/],
    [
      'a delivery id reached the target twice',
      { reached: reached({ duplicateKeys: 3 }) },
      /3 requests reached the target under an Idempotency-Key it had already seen/,
    ],
    [
      'requests reached the target without their key',
      { reached: reached({ keyed: 60 }) },
      /40 of 100 requests reached the target without an Idempotency-Key/,
    ],
    ['requests failed', { errors: 2 }, /2 requests failed/],
    ['nothing was answered', { answered: 0, reached: reached({ received: 0, accepted: 0, keyed: 0 }) }, /no request was answered/],
  ])('fails the run when %s', (_name, over, message) => {
    expect(() => assertHonest([tally(over)])).toThrow(CountMismatchError);
    expect(() => assertHonest([tally(over)])).toThrow(message);
  });

  it('counts repeated keys at the target, and rounds as differences', () => {
    const counter = createCounter();
    const before = counter.snapshot();
    counter.record('k1', true);
    counter.record('k1', true);
    counter.record(undefined, false);
    expect(countsBetween(before, counter.snapshot())).toEqual({ received: 3, accepted: 2, refused: 1, keyed: 2, duplicateKeys: 1 });
  });
});

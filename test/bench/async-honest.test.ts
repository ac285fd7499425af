import { describe, expect, it } from 'vitest';
import { acceptedKeys } from './async.js';
import { assertDelivered, CountMismatchError, createCounter, deliveryProblems, type DeliveryTally, type KeyArrivals } from './counts.js';

const keys = (n: number, prefix = 'k') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const arrivals = (ks: string[], at = 1_000): KeyArrivals => Object.fromEntries(ks.map((k) => [k, [at]]));
const tally = (over: Partial<DeliveryTally> = {}): DeliveryTally => ({
  what: 'async route',
  accepted: keys(100),
  errors: 0,
  received: arrivals(keys(100)),
  refused: 0,
  ...over,
});

describe('the async key check', () => {
  it('passes when every accepted key, and only those, reached the target with a valid token', () => {
    expect(deliveryProblems(tally())).toEqual([]);
    expect(assertDelivered(tally())).toEqual({ accepted: 100, received: 100, arrivals: 100, duplicates: 0, duplicatedKeys: 0 });
  });

  it('reports a redelivered key as a figure, not a failure (Pub/Sub is at-least-once)', () => {
    const received = { ...arrivals(keys(100)), k7: [1_000, 1_500, 2_000], k9: [1_000, 1_200] };
    expect(assertDelivered(tally({ received }))).toEqual({ accepted: 100, received: 100, arrivals: 103, duplicates: 3, duplicatedKeys: 2 });
  });

  it.each<[string, Partial<DeliveryTally>, RegExp]>([
    // The shortcut issue 11 is about, on the async path: 202 answered, nothing published or delivered.
    [
      'webhooks were answered 202 but nothing reached the target',
      { received: {} },
      /100 of 100 accepted webhooks never reached the target \(k0, k1, k2, \.\.\.\)/,
    ],
    ['one accepted webhook was lost', { received: arrivals(keys(99)) }, /1 of 100 accepted webhooks never reached the target \(k99\)/],
    [
      'a key reached the target that was never accepted',
      { received: arrivals([...keys(100), 'stray']) },
      /1 keys reached the target that were never accepted \(stray\)/,
    ],
    ['the target refused a token', { refused: 1 }, /the target refused 1 requests/],
    ['requests failed', { errors: 2 }, /2 requests failed/],
    ['nothing was accepted', { accepted: [], received: {} }, /no webhook was accepted/],
    ['one key was answered 202 twice', { accepted: [...keys(100), 'k5'] }, /1 idempotency keys were answered 202 more than once \(k5\)/],
  ])('fails the run when %s', (_name, over, message) => {
    expect(() => assertDelivered(tally(over))).toThrow(CountMismatchError);
    expect(() => assertDelivered(tally(over))).toThrow(message);
  });

  it('lists every problem at once', () => {
    expect(deliveryProblems(tally({ received: arrivals([...keys(50), 'stray']), refused: 3 }))).toHaveLength(3);
  });
});

describe('what the target records for it', () => {
  it('keeps each accepted key with the time of every arrival, and leaves refused requests out', () => {
    let t = 10;
    const counter = createCounter({ recordKeys: true, now: () => t++ });
    counter.record('a', true);
    counter.record('b', false);
    counter.record('a', true);
    counter.record(undefined, true);
    expect(counter.keys()).toEqual({ a: [10, 11] });
    expect(counter.snapshot()).toEqual({ received: 4, accepted: 3, refused: 1, keyed: 3, duplicateKeys: 1 });
  });

  it('records no keys unless asked (the spine target stays small)', () => {
    const counter = createCounter();
    counter.record('a', true);
    expect(counter.keys()).toEqual({});
  });
});

describe('what the sender counts as accepted', () => {
  const body = (o: unknown) => Buffer.from(JSON.stringify(o));
  const ok = { accepted: true, idempotencyKey: 'd1', deliveries: [{ target: 'svc', idempotencyKey: 'd1:svc' }] };

  it('is the delivery key of a 202 for the delivery id sent', () => {
    expect(acceptedKeys(202, body(ok), 'd1')).toEqual(['d1:svc']);
  });

  it.each<[string, number, unknown, RegExp]>([
    ['a replay answered as a duplicate', 200, { duplicate: true }, /answered 200, not 202/],
    ['a refusal', 503, { error: { code: 'unavailable' } }, /answered 503/],
    ['a 202 for another event', 202, { ...ok, idempotencyKey: 'd2' }, /names event d2/],
    ['a 202 without its delivery key', 202, { ...ok, deliveries: [] }, /without one delivery key/],
  ])('is nothing for %s (a failed request)', (_name, status, answer, message) => {
    expect(() => acceptedKeys(status, body(answer), 'd1')).toThrow(message);
  });
});

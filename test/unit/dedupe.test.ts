import { describe, expect, it } from 'vitest';
import { dedupeSchema } from '../../shared/config/dedupe-schema.js';
import { dedupeKey, deliverOnce, type OnceOptions } from '../../shared/dedupe/dedupe.js';
import { MemoryDedupeStore } from '../../shared/dedupe/memory-store.js';
import { RelayError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/log.js';

function setup(config: Record<string, unknown> = {}) {
  const clock = { now: 1_000_000 };
  const store = new MemoryDedupeStore(() => clock.now);
  const options = (extra: Partial<OnceOptions<number>> = {}): OnceOptions<number> => ({
    store,
    key: dedupeKey('route', 'github', 'd-1'),
    config: dedupeSchema.parse({ store: 'firestore', window: '1h', ...config }),
    leaseMs: 30_000,
    settlement: (status) => (status < 300 ? 'delivered' : status === 422 ? 'parked' : 'released'),
    log: silentLogger,
    ...extra,
  });
  return { clock, store, options };
}

describe('deliver once', () => {
  it('calls once, then answers duplicate for the window, then calls again once it has passed', async () => {
    const { clock, options } = setup();
    let calls = 0;
    const call = async () => (calls++, 200);
    expect(await deliverOnce(options(), call)).toEqual({ kind: 'called', value: 200 });
    clock.now += 3_599_000;
    expect(await deliverOnce(options(), call)).toEqual({ kind: 'duplicate' });
    clock.now += 1_000;
    expect(await deliverOnce(options(), call)).toEqual({ kind: 'called', value: 200 });
    expect(calls).toBe(2);
  });

  it('releases the key when the call did not deliver, so the retry goes through', async () => {
    const { options } = setup();
    expect(await deliverOnce(options(), async () => 503)).toEqual({ kind: 'called', value: 503 });
    await expect(deliverOnce(options(), async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await deliverOnce(options(), async () => 200)).toEqual({ kind: 'called', value: 200 });
  });

  it('keeps a parked key: a copy is not called, a replay made after the park is, and so is no copy of that replay', async () => {
    const { clock, options } = setup();
    let calls = 0;
    const refused = async () => (calls++, 422);
    expect(await deliverOnce(options(), refused)).toEqual({ kind: 'called', value: 422 });
    clock.now += 1_000;
    expect(await deliverOnce(options(), refused)).toEqual({ kind: 'parked' });
    // A replay from before the park (a copy of an older replay) does not take it over; one from after it does.
    expect(await deliverOnce(options({ replayedAt: clock.now - 2_000 }), refused)).toEqual({ kind: 'parked' });
    const replayedAt = clock.now;
    clock.now += 1_000;
    expect(await deliverOnce(options({ replayedAt }), refused)).toEqual({ kind: 'called', value: 422 });
    clock.now += 1_000;
    expect(await deliverOnce(options({ replayedAt }), refused)).toEqual({ kind: 'parked' });
    expect(calls).toBe(2);
    // A replay never takes over a delivered key.
    expect(await deliverOnce(options({ replayedAt: clock.now + 1 }), async () => 200)).toEqual({ kind: 'called', value: 200 });
    expect(await deliverOnce(options({ replayedAt: clock.now + 1 }), async () => 200)).toEqual({ kind: 'duplicate' });
  });

  it('gives up at once on a key in flight elsewhere when it may not wait', async () => {
    const { options, store } = setup();
    await store.reserve(options().key, { leaseMs: 30_000, windowMs: 3_600_000 });
    expect(await deliverOnce(options(), async () => 200)).toEqual({ kind: 'in-flight' });
  });

  it('waits for an in-flight delivery and answers duplicate once it delivered', async () => {
    const { options, store } = setup();
    const other = await store.reserve(options().key, { leaseMs: 30_000, windowMs: 3_600_000 });
    if (other.state !== 'reserved') throw new Error('unreachable');
    setTimeout(() => void other.settle('delivered'), 30);
    expect(await deliverOnce(options({ waitSignal: AbortSignal.timeout(2_000), pollMs: 10 }), async () => 200)).toEqual({
      kind: 'duplicate',
    });
  });

  it('takes over a reservation whose lease lapsed (its instance died)', async () => {
    const { options, store, clock } = setup();
    await store.reserve(options().key, { leaseMs: 30_000, windowMs: 3_600_000 });
    clock.now += 30_000;
    expect(await deliverOnce(options(), async () => 200)).toEqual({ kind: 'called', value: 200 });
  });

  it('delivers without de-duplication when the store is down, by default', async () => {
    const { options, store } = setup();
    store.failing = new Error('UNAVAILABLE');
    expect(await deliverOnce(options(), async () => 200)).toEqual({ kind: 'called', value: 200 });
  });

  it('marks the key delivered after delivering without one when a reservation timed out but landed, so no copy goes through after its lease', async () => {
    const { clock, options, store } = setup();
    // The store took the reservation but answered too late: the relay saw an outage and delivered without one.
    const reserve = store.reserve.bind(store);
    store.reserve = async (key, o) => {
      await reserve(key, o);
      store.reserve = reserve;
      throw new Error('Firestore did not answer a reservation within 5000 ms');
    };
    let calls = 0;
    const call = async () => (calls++, 200);
    expect(await deliverOnce(options(), call)).toEqual({ kind: 'called', value: 200 });
    // A copy once the lost reservation's lease has lapsed: before, it took the key over and called the target again.
    clock.now += 30_000;
    expect(await deliverOnce(options(), call)).toEqual({ kind: 'duplicate' });
    expect(calls).toBe(1);
  });

  it('refuses with a retryable 503 when the store is down and onStoreError is refuse', async () => {
    const { options, store } = setup({ onStoreError: 'refuse' });
    store.failing = new Error('UNAVAILABLE');
    let calls = 0;
    const error = await deliverOnce(options(), async () => (calls++, 200)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RelayError);
    expect([(error as RelayError).code, (error as RelayError).status, (error as RelayError).retryable, calls]).toEqual([
      'unavailable',
      503,
      true,
      0,
    ]);
  });

  it.each([
    ['30s', 'expected a window between 1m and 30d'],
    ['24 hours', 'expected a duration'],
  ])('refuses window %j', (window, message) => {
    const result = dedupeSchema.safeParse({ store: 'firestore', window });
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.message).toContain(message);
  });

  it('reads `window: 24h` as 86 400 000 ms and defaults to delivering when the store is down', () => {
    expect(dedupeSchema.parse({ store: 'firestore', window: '24h' })).toEqual({
      store: 'firestore',
      windowMs: 86_400_000,
      onStoreError: 'deliver',
    });
  });
});

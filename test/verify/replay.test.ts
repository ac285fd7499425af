import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { ReplayStore, storedKey, SWEEP_INTERVAL_MS } from '../../shared/verify/replay.js';

describe('ReplayStore', () => {
  it('answers duplicate for an id delivered within the window, and new once the window passed', () => {
    const store = new ReplayStore();
    const first = store.claim('a', 1000, 300_000);
    expect(first.state).toBe('new');
    if (first.state === 'new') first.settle(true);
    expect(store.claim('a', 1000 + 299_999, 300_000).state).toBe('duplicate');
    expect(store.claim('a', 1000 + 300_000, 300_000).state).toBe('new');
  });

  it("forgets an id whose delivery failed, so the sender's retry goes through", () => {
    const store = new ReplayStore();
    const first = store.claim('a', 0, 1000);
    if (first.state === 'new') first.settle(false);
    expect(store.claim('a', 1, 1000).state).toBe('new');
  });

  it('makes a duplicate wait while the first delivery is in flight', async () => {
    const store = new ReplayStore();
    const first = store.claim('a', 0, 1000);
    const second = store.claim('a', 0, 1000);
    expect(second.state).toBe('in-flight');
    let woke = false;
    if (second.state === 'in-flight') void second.settled.then(() => (woke = true));
    await Promise.resolve();
    expect(woke).toBe(false);
    if (first.state === 'new') first.settle(true);
    await new Promise((r) => setTimeout(r, 0));
    expect(woke).toBe(true);
    expect(store.claim('a', 0, 1000).state).toBe('duplicate');
  });

  it('stays within maxEntries, forgetting the oldest settled ids first', () => {
    const store = new ReplayStore({ maxEntries: 100 });
    for (let i = 0; i < 1000; i++) {
      const claim = store.claim(`id-${i}`, 0, 1_000_000);
      if (claim.state === 'new') claim.settle(true);
    }
    expect(store.size).toBeLessThanOrEqual(100);
    expect(store.claim('id-999', 0, 1_000_000).state).toBe('duplicate');
    expect(store.claim('id-0', 0, 1_000_000).state).toBe('new');
  });

  it('forgets expired ids before older unexpired ones when full, sweeping at most once per interval', () => {
    const store = new ReplayStore({ maxEntries: 3 });
    const put = (id: string, now: number, windowMs: number) => {
      const claim = store.claim(id, now, windowMs);
      if (claim.state === 'new') claim.settle(true);
    };
    put('long', 0, 1_000_000);
    put('short-1', 0, 10);
    put('short-2', 0, 10);
    put('new-1', SWEEP_INTERVAL_MS, 1_000_000); // full, two expired: the sweep forgets them, 'long' stays
    expect(store.claim('long', SWEEP_INTERVAL_MS, 1_000_000).state).toBe('duplicate');
    expect(store.size).toBe(2);
    put('new-2', SWEEP_INTERVAL_MS, 1_000_000);
    put('short-3', SWEEP_INTERVAL_MS, 10);
    // Full again, 'short-3' expired but the last sweep was just now: the oldest ('long') goes instead.
    put('new-3', SWEEP_INTERVAL_MS + 20, 1_000_000);
    expect(store.size).toBe(3);
    expect(store.claim('long', SWEEP_INTERVAL_MS + 20, 1_000_000).state).toBe('new');
    // An expired id is never a duplicate, swept or not.
    expect(store.claim('short-3', SWEEP_INTERVAL_MS + 20, 10).state).toBe('new');
  });

  it('makes room on a full store in time independent of its size (a complexity bound, not a speed target)', () => {
    const perClaim = (size: number) => {
      const store = new ReplayStore({ maxEntries: size });
      for (let i = 0; i < size; i++) {
        const claim = store.claim(`fill-${i}`, 0, 1_000_000);
        if (claim.state === 'new') claim.settle(true);
      }
      const n = 2000;
      const started = performance.now();
      for (let i = 0; i < n; i++) {
        const claim = store.claim(`more-${i}`, 1, 1_000_000);
        if (claim.state === 'new') claim.settle(true);
      }
      expect(store.size).toBe(size);
      return (performance.now() - started) / n;
    };
    perClaim(1000); // warm up
    // The best of several runs each, so a busy machine (a pause, a GC) does not decide it.
    const best = (size: number) => Math.min(...Array.from({ length: 4 }, () => perClaim(size)));
    const small = best(1000);
    const large = best(64_000);
    // A walk over the store on every claim would make the large store 64x slower per claim; a bigger Map costs a
    // few times more per lookup (cache misses) without any walk.
    expect(large / small).toBeLessThan(16);
  });

  it('stores keys in a one-to-one form: different keys never meet, the same key always does', () => {
    const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e';
    const packed = storedKey(`github\u0000${uuid}`);
    expect(packed).toHaveLength(24); // `\1` + route + `\0` + 16 bytes
    const keys = [
      `github\u0000${uuid}`,
      `github\u0000${uuid.toUpperCase()}`, // not canonical: stored as is
      `github\u0000${uuid.replaceAll('-', '')}`,
      `githu\u0000b${uuid}`,
      `\u0000${uuid}`,
      `github${uuid}`,
      packed, // a key that is another key's packed form
      `\u0000${packed}`,
      `\u0001${packed}`,
      '\u0000',
      '\u0001',
      '',
      'a',
      'é\u0000x',
      '\u{1F600}\u0000x', // beyond one byte
      `stripe\u0000evt_1`,
      `stripe\u0000${uuid}x`,
    ];
    expect(new Set(keys).size).toBe(keys.length);
    const stored = keys.map(storedKey);
    expect(new Set(stored).size).toBe(keys.length);
    expect(keys.map(storedKey)).toEqual(stored);
    // Through the store: every key is new once, then a duplicate.
    const store = new ReplayStore();
    for (const key of keys) {
      const claim = store.claim(key, 0, 1000);
      expect(claim.state).toBe('new');
      if (claim.state === 'new') claim.settle(true);
    }
    for (const key of keys) expect(store.claim(key, 1, 1000).state).toBe('duplicate');
  });

  it('never answers a fresh delivery id as a duplicate, with the store full of other UUIDs', () => {
    const store = new ReplayStore({ maxEntries: 1000 });
    const recent: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const key = `github\u0000${randomUUID()}`;
      const claim = store.claim(key, i, 1_000_000);
      expect(claim.state).toBe('new');
      if (claim.state === 'new') claim.settle(true);
      if (i >= 4500) recent.push(key);
    }
    for (const key of recent) expect(store.claim(key, 5000, 1_000_000).state).toBe('duplicate');
  });

  it('keeps exact expiry times far from the first claim (an offset too large for a small integer)', () => {
    const store = new ReplayStore();
    const start = 1_700_000_000_000;
    const first = store.claim('a', start, 1000);
    if (first.state === 'new') first.settle(true);
    const later = start + 40 * 86_400_000; // 40 days on
    const second = store.claim('b', later, 300_000);
    if (second.state === 'new') second.settle(true);
    expect(store.claim('b', later + 299_999, 300_000).state).toBe('duplicate');
    expect(store.claim('b', later + 300_000, 300_000).state).toBe('new');
  });

  it('finds every recent delivered id and never a forgotten one, through heavy churn (random operations)', () => {
    // A small store, few keys, short and long windows: ids expire, fail, get forgotten and come back, so the index's
    // deletions (which move other entries) run thousands of times. Checked against what the rules promise.
    let seed = 42;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 0x100000000;
    const max = 64;
    const store = new ReplayStore({ maxEntries: max });
    /** Per key: when its last delivery expires, and how many claims were new when it was delivered. */
    const delivered = new Map<string, { expiresAt: number; at: number }>();
    let fresh = 0;
    for (let now = 0; now < 20_000; now++) {
      const key = `route\u0000k${Math.floor(random() * 100)}`;
      const windowMs = [5, 50, 1_000_000][Math.floor(random() * 3)]!;
      const claim = store.claim(key, now, windowMs);
      const last = delivered.get(key);
      const live = last !== undefined && last.expiresAt > now;
      // Delivered, unexpired, and fewer than maxEntries new claims since (each may make room by forgetting the
      // oldest id): it must be a duplicate.
      if (live && fresh - last.at < max) expect(claim.state, `${key} at ${now}`).toBe('duplicate');
      // Never delivered, or its delivery expired: never a duplicate.
      if (!live) expect(claim.state, `${key} at ${now}`).toBe('new');
      if (claim.state === 'new') {
        fresh++;
        if (random() < 0.8) {
          claim.settle(true);
          delivered.set(key, { expiresAt: now + windowMs, at: fresh });
        } else {
          claim.settle(false);
          delivered.delete(key);
        }
      }
      expect(store.size).toBeLessThanOrEqual(max);
    }
  });
});

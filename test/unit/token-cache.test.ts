import { describe, expect, it } from 'vitest';
import { RelayError } from '../../shared/errors.js';
import { createTokenCache } from '../../shared/identity/token-cache.js';
import type { IdTokenSource } from '../../shared/identity/token-source.js';

/** An unsigned JWT-shaped token expiring at `expSeconds`; the cache only reads `exp`. */
const tokenFor = (audience: string, expSeconds: number, n: number) =>
  `eyJhbGciOiJub25lIn0.${Buffer.from(JSON.stringify({ aud: audience, exp: expSeconds, n })).toString('base64url')}.`;

function fakeSource(clock: { now: number }, ttlSeconds = 3600) {
  const calls: string[] = [];
  const waiting: (() => void)[] = [];
  let hold = false;
  let failures = 0;
  const source: IdTokenSource = {
    async fetchIdToken(audience) {
      calls.push(audience);
      if (hold) await new Promise<void>((r) => waiting.push(r));
      if (failures > 0) {
        failures--;
        throw new Error('metadata server said 500');
      }
      return tokenFor(audience, Math.floor(clock.now / 1000) + ttlSeconds, calls.length);
    },
  };
  return {
    source,
    calls,
    hold: () => (hold = true),
    release: () => {
      hold = false;
      waiting.splice(0).forEach((r) => r());
    },
    failNext: (n: number) => (failures = n),
  };
}

describe('token cache', () => {
  it('merges concurrent cold requests for one audience into one fetch', async () => {
    const clock = { now: 1_000_000_000_000 };
    const fake = fakeSource(clock);
    const cache = createTokenCache({ source: fake.source, now: () => clock.now });
    fake.hold();
    const all = Promise.all(Array.from({ length: 100 }, () => cache.get('https://a')));
    fake.release();
    const tokens = await all;
    expect(new Set(tokens).size).toBe(1);
    expect(fake.calls).toEqual(['https://a']);
    await cache.get('https://b');
    expect(fake.calls).toEqual(['https://a', 'https://b']);
  });

  it('serves the cached token until the refresh window, then refreshes in the background without blocking', async () => {
    const clock = { now: 1_000_000_000_000 };
    const fake = fakeSource(clock);
    const cache = createTokenCache({ source: fake.source, now: () => clock.now, refreshAheadMs: 5 * 60_000 });
    const first = await cache.get('aud');
    clock.now += 50 * 60_000;
    expect(await cache.get('aud')).toBe(first);
    expect(fake.calls).toHaveLength(1);

    clock.now += 6 * 60_000; // 4 minutes left: inside the refresh window
    fake.hold();
    // Callers get the old, still-valid token at once while one refresh runs.
    const during = await Promise.all([cache.get('aud'), cache.get('aud'), cache.get('aud')]);
    expect(during).toEqual([first, first, first]);
    expect(fake.calls).toHaveLength(2);
    fake.release();
    await new Promise((r) => setImmediate(r));
    const fresh = await cache.get('aud');
    expect(fresh).not.toBe(first);
    expect(fake.calls).toHaveLength(2);
  });

  it('waits for a new token once the old one is about to expire', async () => {
    const clock = { now: 1_000_000_000_000 };
    const fake = fakeSource(clock);
    const cache = createTokenCache({ source: fake.source, now: () => clock.now, minRemainingMs: 30_000 });
    const first = await cache.get('aud');
    clock.now += 3600_000 - 10_000;
    expect(await cache.get('aud')).not.toBe(first);
    expect(fake.calls).toHaveLength(2);
  });

  it('drops a refused token only if it is still the cached one', async () => {
    const clock = { now: 1_000_000_000_000 };
    const fake = fakeSource(clock);
    const cache = createTokenCache({ source: fake.source, now: () => clock.now });
    const first = await cache.get('aud');
    cache.invalidate('aud', first);
    const second = await cache.get('aud');
    expect(second).not.toBe(first);
    cache.invalidate('aud', first); // a late report about the old token
    expect(await cache.get('aud')).toBe(second);
    expect(fake.calls).toHaveLength(2);
  });

  it('turns a failed fetch into token_unavailable, shared by all waiters, and fetches again next time', async () => {
    const clock = { now: 1_000_000_000_000 };
    const fake = fakeSource(clock);
    const cache = createTokenCache({ source: fake.source, now: () => clock.now });
    fake.failNext(1);
    const results = await Promise.allSettled([cache.get('aud'), cache.get('aud')]);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const error = (r as PromiseRejectedResult).reason as RelayError;
      expect(error).toBeInstanceOf(RelayError);
      expect(error.code).toBe('token_unavailable');
      expect(error.retryable).toBe(true);
    }
    expect(fake.calls).toHaveLength(1);
    await expect(cache.get('aud')).resolves.toMatch(/^eyJ/);
    expect(fake.calls).toHaveLength(2);
  });
});

import { describe, expect, it } from 'vitest';
import { ReplayStore } from '../../shared/verify/replay.js';

describe('ReplayStore', () => {
  it('answers duplicate for an id delivered within the window, and new once the window passed', () => {
    const store = new ReplayStore();
    const first = store.claim('a', 1000, 300_000);
    expect(first.state).toBe('new');
    if (first.state === 'new') first.settle(true);
    expect(store.claim('a', 1000 + 299_999, 300_000).state).toBe('duplicate');
    expect(store.claim('a', 1000 + 300_000, 300_000).state).toBe('new');
  });

  it('forgets an id whose delivery failed, so the sender\'s retry goes through', () => {
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
});

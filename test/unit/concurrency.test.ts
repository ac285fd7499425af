import { describe, expect, it } from 'vitest';
import { ConcurrencyLimit, LimitReachedError } from '../../shared/forward/concurrency.js';

describe('concurrency limit', () => {
  it('grants up to the limit at once and refuses the next caller that does not wait', async () => {
    const limit = new ConcurrencyLimit(2);
    await limit.acquire({ wait: false });
    await limit.acquire({ wait: false });
    expect(limit.inFlight).toBe(2);
    await expect(limit.acquire({ wait: false })).rejects.toBeInstanceOf(LimitReachedError);
  });

  it('serves waiting callers in arrival order as slots are released', async () => {
    const limit = new ConcurrencyLimit(1);
    const release = await limit.acquire({ wait: false });
    const order: string[] = [];
    const a = limit.acquire({ wait: true }).then((r) => (order.push('a'), r));
    const b = limit.acquire({ wait: true }).then((r) => (order.push('b'), r));
    expect(limit.waiting).toBe(2);
    release();
    (await a)();
    (await b)();
    expect(order).toEqual(['a', 'b']);
    expect(limit.inFlight).toBe(0);
  });

  it("gives up waiting when the caller's signal aborts, with its reason", async () => {
    const limit = new ConcurrencyLimit(1);
    const release = await limit.acquire({ wait: false });
    const controller = new AbortController();
    const waiting = limit.acquire({ wait: true, signal: controller.signal });
    controller.abort(new Error('deadline'));
    await expect(waiting).rejects.toThrow('deadline');
    expect(limit.waiting).toBe(0);
    release();
    expect(limit.inFlight).toBe(0);
  });

  it('ignores a second release of the same slot', async () => {
    const limit = new ConcurrencyLimit(2);
    const release = await limit.acquire({ wait: false });
    await limit.acquire({ wait: false });
    release();
    release();
    expect(limit.inFlight).toBe(1);
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new ConcurrencyLimit(0)).toThrow(/maxConcurrency/);
  });
});

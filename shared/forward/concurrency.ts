/**
 * A per-target cap on in-flight calls, in memory, per instance. Callers
 * either wait for a slot until their signal aborts (sync requests, within
 * their deadline) or are refused at once (Pub/Sub deliveries: a nack costs
 * nothing and Pub/Sub's backoff spaces the retry). Waiters are served in
 * arrival order.
 */

/** Thrown by {@link ConcurrencyLimit.acquire} when no slot is free and the caller does not wait. */
export class LimitReachedError extends Error {
  override name = 'LimitReachedError';
  constructor(readonly limit: number) {
    super(`All ${limit} slots are in use`);
  }
}

interface Waiter {
  grant: (release: () => void) => void;
}

export class ConcurrencyLimit {
  readonly limit: number;
  #inFlight = 0;
  readonly #queue: Waiter[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`Expected \`maxConcurrency\` to be a positive integer, got ${limit}`);
    this.limit = limit;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get waiting(): number {
    return this.#queue.length;
  }

  /**
   * Resolves with `release` (call it once, when the call is done) as soon as
   * a slot is free. With `wait: false` rejects at once with
   * {@link LimitReachedError} when none is; with a signal, rejects with its
   * reason if it aborts first.
   */
  acquire(options: { wait: boolean; signal?: AbortSignal }): Promise<() => void> {
    if (this.#inFlight < this.limit && this.#queue.length === 0) return Promise.resolve(this.#take());
    if (!options.wait) return Promise.reject(new LimitReachedError(this.limit));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: (release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      const onAbort = () => {
        const at = this.#queue.indexOf(waiter);
        if (at >= 0) this.#queue.splice(at, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  #take(): () => void {
    this.#inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight--;
      const next = this.#queue.shift();
      if (next) next.grant(this.#take());
    };
  }
}

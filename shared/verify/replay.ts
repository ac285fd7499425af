/**
 * Per-instance replay memory: which delivery ids this instance has already
 * delivered, for how long, bounded in size. It is a first line only: another
 * instance has its own memory, so cross-instance dedup is the target's job,
 * through the idempotency key the relay forwards.
 *
 * A delivery is remembered as done only once it was delivered (2xx); a
 * delivery that failed is forgotten, so the sender's retry goes through and
 * no event is lost. A duplicate arriving while the first is still in flight
 * waits for the first's outcome.
 */

export interface ReplayStoreOptions {
  /** Most ids remembered; the oldest are forgotten first. Default 10 000. */
  maxEntries?: number;
}

/** What {@link ReplayStore.claim} found. */
export type Claim =
  | { state: 'new'; /** Call when delivered (remember) or failed (forget). */ settle(delivered: boolean): void }
  | { state: 'duplicate' }
  | { state: 'in-flight'; settled: Promise<void> };

interface Entry {
  expiresAt: number;
  pending?: Pending;
}

/** A first delivery in flight: settles once; the promise duplicates wait on is made on first request. */
class Pending {
  done = false;
  #promise?: Promise<void>;
  #resolve?: () => void;

  settled(): Promise<void> {
    if (this.done) return Promise.resolve();
    this.#promise ??= new Promise<void>((resolve) => (this.#resolve = resolve));
    return this.#promise;
  }

  finish(): void {
    this.done = true;
    this.#resolve?.();
  }
}

/** Shortest time between two sweeps of a full store for expired ids, ms. */
export const SWEEP_INTERVAL_MS = 1000;

export class ReplayStore {
  readonly maxEntries: number;
  readonly #entries = new Map<string, Entry>();
  /** No entry expires before this (a lower bound): a full store whose entries are all younger skips the sweep. */
  #earliestExpiry = Number.POSITIVE_INFINITY;
  /** The last sweep for expired ids, on the callers' clock. */
  #sweptAt = Number.NEGATIVE_INFINITY;

  constructor(options: ReplayStoreOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Claims `key` at `now` (ms) for `windowMs`. */
  claim(key: string, now: number, windowMs: number): Claim {
    const entry = this.#entries.get(key);
    if (entry && (entry.pending || entry.expiresAt > now)) {
      return entry.pending ? { state: 'in-flight', settled: entry.pending.settled() } : { state: 'duplicate' };
    }
    if (entry) this.#entries.delete(key);
    this.#makeRoom(now);
    // The promise a duplicate waits on is made only when one arrives: the common case makes none.
    const pending = new Pending();
    const fresh: Entry = { expiresAt: now + windowMs, pending };
    this.#entries.set(key, fresh);
    if (fresh.expiresAt < this.#earliestExpiry) this.#earliestExpiry = fresh.expiresAt;
    return {
      state: 'new',
      settle: (delivered) => {
        if (pending.done) return;
        if (delivered && this.#entries.get(key) === fresh) fresh.pending = undefined;
        else if (this.#entries.get(key) === fresh) this.#entries.delete(key);
        pending.finish();
      },
    };
  }

  /**
   * Once full, each claim makes room for one id. Sweeping every expired id is
   * a walk over the whole store (about 250 us at 10 000 ids, on every request
   * once the store is full), so it runs only when some id can have expired,
   * and at most once per {@link SWEEP_INTERVAL_MS}; between sweeps the oldest
   * settled ids go first. An expired id is never answered as a duplicate
   * either way: {@link claim} checks the time itself.
   */
  #makeRoom(now: number): void {
    if (this.#entries.size < this.maxEntries) return;
    if (now >= this.#earliestExpiry && now - this.#sweptAt >= SWEEP_INTERVAL_MS) {
      this.#sweptAt = now;
      let earliest = Number.POSITIVE_INFINITY;
      for (const [key, entry] of this.#entries) {
        if (!entry.pending && entry.expiresAt <= now) this.#entries.delete(key);
        else if (entry.expiresAt < earliest) earliest = entry.expiresAt;
      }
      this.#earliestExpiry = earliest;
    }
    // Still full: forget the oldest settled ids (Map keeps insertion order).
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size < this.maxEntries) break;
      if (!entry.pending) this.#entries.delete(key);
    }
  }
}

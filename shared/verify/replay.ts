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

export class ReplayStore {
  readonly maxEntries: number;
  readonly #entries = new Map<string, Entry>();

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

  #makeRoom(now: number): void {
    if (this.#entries.size < this.maxEntries) return;
    for (const [key, entry] of this.#entries) {
      if (!entry.pending && entry.expiresAt <= now) this.#entries.delete(key);
    }
    // Still full: forget the oldest settled ids (Map keeps insertion order).
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size < this.maxEntries) break;
      if (!entry.pending) this.#entries.delete(key);
    }
  }
}

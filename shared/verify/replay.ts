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

/** A first delivery in flight: settles once; the promise duplicates wait on is made on first request. */
class Pending {
  done = false;
  #promise?: Promise<void>;
  #resolve?: () => void;

  constructor(readonly expiresAt: number) {}

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

/** `\0` and a canonical (lower-case) UUID at the end of a key: GitHub's delivery ids, say. */
const UUID_TAIL = /\0[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Every character fits one byte (header values always do: Node reads them as latin1). */
const ONE_BYTE = /^[\0-\xff]*$/;

/**
 * The form a key is stored in: the same key always gives the same string, and two different keys never give the
 * same one (the mapping is one-to-one, so no new id is ever taken for a duplicate), in less memory:
 * - a key whose first character is `\0` or `\1` is stored as `\0` + the key (as is, tagged);
 * - one ending in `\0` + a canonical UUID (the relay's `route\0deliveryId` for GitHub) as `\1` + what precedes the
 *   UUID + `\0` + the UUID's 16 bytes, one character each (24 characters for a 6-letter route instead of 43);
 * - any other key as itself, copied into one flat string when every character fits a byte.
 * The leading character tells the forms apart (`\1`: packed; `\0`: tagged; else: as is), and the packed form's last
 * 16 characters are exactly the UUID's bytes, so each form can be read back to the one key it came from.
 *
 * Why copy: the relay builds its keys by concatenation, and V8 keeps such a string as a rope (a 32-byte node plus
 * its parts, the header's own string among them); a map of 10 000 ids held about 1.85 MiB of live heap that way
 * (docs/bench.md, "Memory"), and the old generation V8 lets grow before a full GC is a multiple of the live heap.
 */
export function storedKey(key: string): string {
  const first = key.charCodeAt(0);
  if (first === 0 || first === 1) return '\0' + key;
  if (!ONE_BYTE.test(key)) return key;
  if (key.length >= 37 && UUID_TAIL.test(key)) {
    const prefix = key.length - 37;
    const packed = Buffer.allocUnsafe(prefix + 18);
    packed[0] = 1;
    packed.write(key, 1, prefix, 'latin1');
    packed[prefix + 1] = 0;
    const uuid = key.slice(prefix + 1);
    packed.write(uuid.slice(0, 8) + uuid.slice(9, 13) + uuid.slice(14, 18) + uuid.slice(19, 23) + uuid.slice(24), prefix + 2, 16, 'hex');
    return packed.toString('latin1');
  }
  return Buffer.from(key, 'latin1').toString('latin1');
}

/** Shortest time between two sweeps of a full store for expired ids, ms. */
export const SWEEP_INTERVAL_MS = 1000;

/** The same number; as an int32 when it is one, so that V8 stores it untagged (a subtraction can give a boxed double). */
function small(n: number): number {
  return n === (n | 0) ? n | 0 : n;
}

export class ReplayStore {
  readonly maxEntries: number;
  /**
   * By stored key ({@link storedKey}): a delivery in flight, or a delivered one's expiry as ms after {@link #epoch}
   * (a small integer, which V8 keeps in the map's slot itself rather than in a 16-byte number object).
   */
  readonly #entries = new Map<string, number | Pending>();
  /** The first claim's clock: stored expiries count from here. */
  #epoch: number | undefined;
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
    const epoch = (this.#epoch ??= now);
    const stored = storedKey(key);
    const entry = this.#entries.get(stored);
    if (entry !== undefined) {
      if (typeof entry !== 'number') return { state: 'in-flight', settled: entry.settled() };
      if (epoch + entry > now) return { state: 'duplicate' };
      this.#entries.delete(stored);
    }
    this.#makeRoom(now);
    // The promise a duplicate waits on is made only when one arrives: the common case makes none.
    const pending = new Pending(now + windowMs);
    this.#entries.set(stored, pending);
    if (pending.expiresAt < this.#earliestExpiry) this.#earliestExpiry = pending.expiresAt;
    return {
      state: 'new',
      settle: (delivered) => {
        if (pending.done) return;
        if (this.#entries.get(stored) === pending) {
          // Setting an existing key keeps its place in the map's order.
          if (delivered) this.#entries.set(stored, small(pending.expiresAt - epoch));
          else this.#entries.delete(stored);
        }
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
    const epoch = this.#epoch!;
    if (now >= this.#earliestExpiry && now - this.#sweptAt >= SWEEP_INTERVAL_MS) {
      this.#sweptAt = now;
      let earliest = Number.POSITIVE_INFINITY;
      for (const [key, entry] of this.#entries) {
        const expiresAt = typeof entry === 'number' ? epoch + entry : entry.expiresAt;
        if (typeof entry === 'number' && expiresAt <= now) this.#entries.delete(key);
        else if (expiresAt < earliest) earliest = expiresAt;
      }
      this.#earliestExpiry = earliest;
    }
    // Still full: forget the oldest settled ids (Map keeps insertion order).
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size < this.maxEntries) break;
      if (typeof entry === 'number') this.#entries.delete(key);
    }
  }
}

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

/** A string's hash (FNV-1a over its UTF-16 units, from a per-store seed): where a key starts probing in the index. */
function hashOf(key: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return h | 0;
}

/**
 * The settled ids live in fixed arrays made once, not in a `Map`: a ring of `maxEntries` slots in the order they
 * were delivered (key, expiry, hash), and an open-addressed index (linear probing, at most two thirds full) from a
 * key's hash to its slot. A `Map` that forgets its oldest id on every claim keeps deleted entries in its table until
 * it rehashes, and at 10 000 live ids V8 then doubles the table: 0.9 MiB of table for 10 000 ids, where these arrays
 * take 0.3 MiB whatever happens, and churn allocates nothing (docs/bench.md, "Memory"). Ids in flight are in a small
 * `Map` of their own: they are as many as the requests being relayed.
 */
export class ReplayStore {
  readonly maxEntries: number;
  /** The ring: slot -> stored key ({@link storedKey}), or undefined for a free slot or a hole left by a forgotten id. */
  readonly #keys: (string | undefined)[];
  readonly #expiresAt: Float64Array;
  readonly #hashes: Int32Array;
  /** Oldest slot of the ring, and how many slots from there are in use (holes included). */
  #head = 0;
  #used = 0;
  /** Ids in the ring (holes excluded). */
  #settled = 0;
  /** Bucket -> 1 + ring slot; 0 is an empty bucket. */
  readonly #index: Int32Array;
  readonly #mask: number;
  readonly #seed = (Math.random() * 0x100000000) | 0;
  /** Deliveries in flight, by stored key; the promise a duplicate waits on is made only when one arrives. */
  readonly #pending = new Map<string, Pending>();
  /** No id in the ring expires before this (a lower bound): a full store whose ids are all younger skips the sweep. */
  #earliestExpiry = Number.POSITIVE_INFINITY;
  /** The last sweep for expired ids, on the callers' clock. */
  #sweptAt = Number.NEGATIVE_INFINITY;

  constructor(options: ReplayStoreOptions = {}) {
    const max = options.maxEntries ?? 10_000;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxEntries must be a positive integer, got ${max}`);
    this.maxEntries = max;
    this.#keys = new Array<string | undefined>(max).fill(undefined);
    this.#expiresAt = new Float64Array(max);
    this.#hashes = new Int32Array(max);
    let buckets = 4;
    while (buckets * 2 < max * 3) buckets *= 2;
    this.#index = new Int32Array(buckets);
    this.#mask = buckets - 1;
  }

  /** Ids remembered as delivered, plus those in flight. */
  get size(): number {
    return this.#settled + this.#pending.size;
  }

  /** Claims `key` at `now` (ms) for `windowMs`. */
  claim(key: string, now: number, windowMs: number): Claim {
    const stored = storedKey(key);
    const inFlight = this.#pending.get(stored);
    if (inFlight !== undefined) return { state: 'in-flight', settled: inFlight.settled() };
    const hash = hashOf(stored, this.#seed);
    const bucket = this.#find(stored, hash);
    if (bucket >= 0) {
      const slot = this.#index[bucket]! - 1;
      if (this.#expiresAt[slot]! > now) return { state: 'duplicate' };
      this.#unlink(bucket);
      this.#keys[slot] = undefined;
      this.#settled--;
    }
    this.#makeRoom(now);
    const pending = new Pending(now + windowMs);
    this.#pending.set(stored, pending);
    return {
      state: 'new',
      settle: (delivered) => {
        if (pending.done) return;
        if (this.#pending.get(stored) === pending) {
          this.#pending.delete(stored);
          if (delivered) this.#remember(stored, hash, pending.expiresAt);
        }
        pending.finish();
      },
    };
  }

  /** The bucket holding `stored`, or a negative number when it is not in the index. */
  #find(stored: string, hash: number): number {
    const index = this.#index;
    const mask = this.#mask;
    for (let bucket = hash & mask; ; bucket = (bucket + 1) & mask) {
      const entry = index[bucket]!;
      if (entry === 0) return -1 - bucket;
      if (this.#hashes[entry - 1] === hash && this.#keys[entry - 1] === stored) return bucket;
    }
  }

  /** Empties `bucket`, moving back the entries after it that probed past it (so every lookup still finds its key). */
  #unlink(bucket: number): void {
    const index = this.#index;
    const mask = this.#mask;
    let hole = bucket;
    for (let next = (bucket + 1) & mask; index[next] !== 0; next = (next + 1) & mask) {
      const entry = index[next]!;
      const home = this.#hashes[entry - 1]! & mask;
      // The entry may fill the hole unless its home lies cyclically after the hole, up to where it sits.
      if (((next - home) & mask) >= ((next - hole) & mask)) {
        index[hole] = entry;
        hole = next;
      }
    }
    index[hole] = 0;
  }

  /** Adds a delivered id at the ring's young end, forgetting the oldest when every slot is in use. */
  #remember(stored: string, hash: number, expiresAt: number): void {
    if (this.#used === this.maxEntries) this.#forgetOldest();
    const slot = (this.#head + this.#used) % this.maxEntries;
    this.#keys[slot] = stored;
    this.#hashes[slot] = hash;
    this.#expiresAt[slot] = expiresAt;
    this.#used++;
    this.#settled++;
    this.#index[-1 - this.#find(stored, hash)] = slot + 1;
    if (expiresAt < this.#earliestExpiry) this.#earliestExpiry = expiresAt;
  }

  /** Frees the ring's oldest slot (an id, or a hole). */
  #forgetOldest(): void {
    const slot = this.#head;
    const stored = this.#keys[slot];
    if (stored !== undefined) {
      this.#unlink(this.#find(stored, this.#hashes[slot]!));
      this.#keys[slot] = undefined;
      this.#settled--;
    }
    this.#head = (slot + 1) % this.maxEntries;
    this.#used--;
  }

  /**
   * Once every slot is in use, each claim makes room for one id. Sweeping the
   * expired ids is a walk over the whole ring, so it runs only when some id
   * can have expired, and at most once per {@link SWEEP_INTERVAL_MS}; it
   * closes the holes and rebuilds the index. Between sweeps the oldest slot
   * goes. An expired id is never answered as a duplicate either way:
   * {@link claim} checks the time itself.
   */
  #makeRoom(now: number): void {
    if (this.#used < this.maxEntries) return;
    if (now >= this.#earliestExpiry && now - this.#sweptAt >= SWEEP_INTERVAL_MS) {
      this.#sweptAt = now;
      this.#sweep(now);
    }
    if (this.#used === this.maxEntries) this.#forgetOldest();
  }

  /** Keeps the unexpired ids, oldest first from slot 0, and indexes them afresh. */
  #sweep(now: number): void {
    const max = this.maxEntries;
    const keys = this.#keys;
    const live: [string, number, number][] = [];
    for (let i = 0; i < this.#used; i++) {
      const slot = (this.#head + i) % max;
      const stored = keys[slot];
      if (stored !== undefined && this.#expiresAt[slot]! > now) live.push([stored, this.#hashes[slot]!, this.#expiresAt[slot]!]);
      keys[slot] = undefined;
    }
    this.#index.fill(0);
    this.#head = 0;
    this.#used = 0;
    this.#settled = 0;
    this.#earliestExpiry = Number.POSITIVE_INFINITY;
    for (const [stored, hash, expiresAt] of live) this.#remember(stored, hash, expiresAt);
  }
}

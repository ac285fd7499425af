/** A {@link DedupeStore} in a Map, with an injectable clock: for unit tests of the de-duplication logic. */
import type { DedupeStore, Reservation, ReserveOptions } from './store.js';

interface Entry {
  state: 'reserved' | 'delivered';
  owner: number;
  leaseUntil: number;
  expireAt: number;
}

export class MemoryDedupeStore implements DedupeStore {
  readonly entries = new Map<string, Entry>();
  /** Set to make every call reject, as an unreachable store does. */
  failing: Error | undefined;
  #owners = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async reserve(key: string, options: ReserveOptions): Promise<Reservation> {
    if (this.failing) throw this.failing;
    const now = this.now();
    const entry = this.entries.get(key);
    if (entry?.state === 'delivered' && entry.expireAt > now) return { state: 'delivered' };
    if (entry?.state === 'reserved' && entry.leaseUntil > now) return { state: 'in-flight' };
    const owner = ++this.#owners;
    this.entries.set(key, { state: 'reserved', owner, leaseUntil: now + options.leaseMs, expireAt: now + options.windowMs });
    return {
      state: 'reserved',
      settle: async (delivered) => {
        if (this.failing) throw this.failing;
        const current = this.entries.get(key);
        if (delivered) this.entries.set(key, { state: 'delivered', owner, leaseUntil: 0, expireAt: this.now() + options.windowMs });
        else if (current?.owner === owner) this.entries.delete(key);
      },
    };
  }
}

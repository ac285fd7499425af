/** A {@link DedupeStore} in a Map, with an injectable clock: for unit tests of the de-duplication logic. */
import type { DedupeStore, Reservation, ReserveOptions } from './store.js';

interface Entry {
  state: 'reserved' | 'delivered' | 'parked';
  owner: number;
  leaseUntil: number;
  expireAt: number;
  /** When it was delivered or parked. */
  settledAt?: number;
}

export class MemoryDedupeStore implements DedupeStore {
  readonly entries = new Map<string, Entry>();
  /** Set to make every call reject, as an unreachable store does. */
  failing: Error | undefined;
  #owners = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async remember(key: string, outcome: 'delivered' | 'parked', options: Pick<ReserveOptions, 'windowMs'>): Promise<void> {
    if (this.failing) throw this.failing;
    const at = this.now();
    this.entries.set(key, { state: outcome, owner: ++this.#owners, leaseUntil: 0, expireAt: at + options.windowMs, settledAt: at });
  }

  async reserve(key: string, options: ReserveOptions): Promise<Reservation> {
    if (this.failing) throw this.failing;
    const now = this.now();
    const entry = this.entries.get(key);
    if (entry?.state === 'delivered' && entry.expireAt > now) return { state: 'delivered' };
    if (entry?.state === 'parked' && entry.expireAt > now && !(options.replayedAt !== undefined && entry.settledAt! < options.replayedAt))
      return { state: 'parked' };
    if (entry?.state === 'reserved' && entry.leaseUntil > now) return { state: 'in-flight' };
    const owner = ++this.#owners;
    this.entries.set(key, { state: 'reserved', owner, leaseUntil: now + options.leaseMs, expireAt: now + options.windowMs });
    return {
      state: 'reserved',
      settle: async (outcome) => {
        if (this.failing) throw this.failing;
        const current = this.entries.get(key);
        const at = this.now();
        if (outcome !== 'released')
          this.entries.set(key, { state: outcome, owner, leaseUntil: 0, expireAt: at + options.windowMs, settledAt: at });
        else if (current?.owner === owner) this.entries.delete(key);
      },
    };
  }
}

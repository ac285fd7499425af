/**
 * Where delivery keys are reserved and remembered across instances, behind
 * one method, so the core takes a store as a parameter: Firestore in
 * production (firestore-store.ts), a map in unit tests (memory-store.ts).
 */

/** What {@link DedupeStore.reserve} found. */
export type Reservation =
  | {
      state: 'reserved';
      /** Delivered: remember the key for the window. Not delivered: release it so a retry goes through. */
      settle(delivered: boolean): Promise<void>;
    }
  /** Delivered within the window: do not deliver again. */
  | { state: 'delivered' }
  /** Reserved by another delivery whose lease has not run out. */
  | { state: 'in-flight' };

export interface ReserveOptions {
  /** How long the reservation holds if its owner never settles it (a crashed instance), ms. */
  leaseMs: number;
  /** How long a delivered key is remembered, ms. */
  windowMs: number;
}

export interface DedupeStore {
  /**
   * Reserves `key` atomically: create-if-absent, or take over a key whose
   * lease or window has passed. Rejects when the store cannot be reached.
   */
  reserve(key: string, options: ReserveOptions): Promise<Reservation>;
}

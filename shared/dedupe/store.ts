/**
 * Where delivery keys are reserved and remembered across instances, behind
 * one method, so the core takes a store as a parameter: Firestore in
 * production (firestore-store.ts), a map in unit tests (memory-store.ts).
 */

/**
 * How a reservation ends:
 * - `delivered`: the target took it; remember the key for the window, so no copy is sent again;
 * - `parked`: the delivery was parked in the dead-letter topic (the target refused it for good, answered something
 *   unusable, or it can never be sent); remember the key as parked for the window, so a copy is not sent again
 *   (the target may have acted on it, and the event waits in the dead-letter topic) but a replay from there is;
 * - `released`: not delivered and not parked (a retryable failure); forget the key, so a retry goes through.
 */
export type Settlement = 'delivered' | 'parked' | 'released';

/** What {@link DedupeStore.reserve} found. */
export type Reservation =
  | {
      state: 'reserved';
      /** Ends the reservation as {@link Settlement} says. */
      settle(outcome: Settlement): Promise<void>;
    }
  /** Delivered within the window: do not deliver again. */
  | { state: 'delivered' }
  /** Parked within the window, before any replay this reservation is for: do not deliver again. */
  | { state: 'parked' }
  /** Reserved by another delivery whose lease has not run out. */
  | { state: 'in-flight' };

export interface ReserveOptions {
  /** How long the reservation holds if its owner never settles it (a crashed instance), ms. */
  leaseMs: number;
  /** How long a delivered key is remembered, ms. */
  windowMs: number;
  /**
   * When this reservation is for a replay from the dead-letter topic: when it was replayed (ms since the epoch).
   * A key parked before then is taken over; one parked after (by this replay's own delivery) is not.
   */
  replayedAt?: number;
}

export interface DedupeStore {
  /**
   * Reserves `key` atomically: create-if-absent, or take over a key whose
   * lease or window has passed (or, for a replay, that was parked before it).
   * Rejects when the store cannot be reached.
   */
  reserve(key: string, options: ReserveOptions): Promise<Reservation>;
  /**
   * Records `outcome` for `key` without a reservation (the store could not be reached when the call began, so the
   * call went ahead without one): whatever the key holds is replaced. Rejects when the store cannot be reached.
   */
  remember(key: string, outcome: 'delivered' | 'parked', options: Pick<ReserveOptions, 'windowMs'>): Promise<void>;
}

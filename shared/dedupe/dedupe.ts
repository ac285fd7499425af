/**
 * Delivers at most once per key across instances, within a window, on a
 * {@link DedupeStore}: reserve the key (create-if-absent) before the call,
 * mark it delivered when the call delivered, parked when the call parked it
 * in the dead-letter topic (copies are not sent again; a replay from there
 * is), release it otherwise (so the sender's retry or Pub/Sub's redelivery
 * goes through).
 *
 * When the store cannot be reached the route's or target's `onStoreError`
 * decides: `deliver` (default) calls anyway and logs (a duplicate is better
 * than a loss); `refuse` answers a retryable `unavailable` (503 / nack), so
 * the event waits for the store rather than being lost.
 */
import type { DedupeConfig } from '../config/dedupe-schema.js';
import { RelayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { DedupeStore, Settlement } from './store.js';

export type Once<T> =
  | { kind: 'called'; value: T }
  /** Delivered before, within the window: not called. */
  | { kind: 'duplicate' }
  /** Parked in the dead-letter topic before, within the window (and this is no replay of it): not called. */
  | { kind: 'parked' }
  /** Another delivery of the key is in flight (and did not settle while this one could wait): not called. */
  | { kind: 'in-flight' };

export interface OnceOptions<T> {
  store: DedupeStore;
  key: string;
  config: DedupeConfig;
  /** Longest the reservation holds if this instance dies mid-call: {@link leaseFor} the call's deadline. */
  leaseMs: number;
  /** How the call's outcome settles the key: `delivered` (2xx, stored), `parked` (dead-lettered), else `released`. */
  settlement(value: T): Settlement;
  /** For a replay from the dead-letter topic, when it was replayed (ms since the epoch): it takes over a parked key. */
  replayedAt?: number;
  log: Logger;
  /** When given, an in-flight duplicate polls until the other settles or this aborts; else it gives up at once. */
  waitSignal?: AbortSignal;
  /** Between polls, ms; default 250. */
  pollMs?: number;
}

/** What one store call (a reservation, a settle) may take before it counts as an outage: Firestore's bound, ms. */
export const STORE_CALL_MS = 5_000;

/** Lag beyond every bound (a busy event loop, a slow publish to the dead-letter topic) a lease still absorbs, ms. */
const LEASE_LAG_MS = 10_000;

/**
 * The lease of a reservation for a call bounded by `deadlineMs`: long enough that it cannot lapse while its own
 * instance is still at work (the reservation, the call and the settle at their bounds, plus lag), since a lapsed
 * lease lets a copy on another instance take the key over and call the target a second time. It is also how long
 * copies wait after an instance died mid-call.
 */
export function leaseFor(deadlineMs: number): number {
  return STORE_CALL_MS + deadlineMs + STORE_CALL_MS + LEASE_LAG_MS;
}

/** The store key of a route's delivery id or a target's per-delivery key: unambiguous whatever the names hold. */
export function dedupeKey(kind: 'route' | 'target', name: string, id: string): string {
  return JSON.stringify([kind, name, id]);
}

/** Runs `call` unless `key` was delivered, parked or is in flight elsewhere; see the module comment. A rejected call releases the key. */
export async function deliverOnce<T>(options: OnceOptions<T>, call: () => Promise<T>): Promise<Once<T>> {
  const { store, key, config, log } = options;
  const reserveOptions = {
    leaseMs: options.leaseMs,
    windowMs: config.windowMs,
    ...(options.replayedAt !== undefined ? { replayedAt: options.replayedAt } : {}),
  };
  for (;;) {
    let reservation;
    try {
      reservation = await store.reserve(key, reserveOptions);
    } catch (error) {
      if (config.onStoreError === 'refuse') {
        log.error('De-duplication store unavailable; refusing until it is back (onStoreError: refuse)', { error, dedupeKey: key });
        throw new RelayError('unavailable', 'The de-duplication store is unavailable; retry later', { cause: error, retryAfterSeconds: 5 });
      }
      log.error('De-duplication store unavailable; delivering without de-duplication (onStoreError: deliver)', { error, dedupeKey: key });
      const value = await call();
      // Record what the call came to all the same: a reservation that timed out may still have landed, and left alone
      // it would hold the key until its lease lapsed and then let a copy through to the target a second time.
      const settlement = options.settlement(value);
      if (settlement !== 'released') {
        await store.remember(key, settlement, reserveOptions).catch((rememberError: unknown) => {
          log.warn(`Could not mark the key ${settlement}; a later duplicate may get through`, { error: rememberError, dedupeKey: key });
        });
      }
      return { kind: 'called', value };
    }
    if (reservation.state === 'delivered') return { kind: 'duplicate' };
    if (reservation.state === 'parked') return { kind: 'parked' };
    if (reservation.state === 'in-flight') {
      const signal = options.waitSignal;
      if (!signal || signal.aborted) return { kind: 'in-flight' };
      await sleep(options.pollMs ?? 250, signal);
      continue;
    }
    let settlement: Settlement = 'released';
    try {
      const value = await call();
      settlement = options.settlement(value);
      return { kind: 'called', value };
    } finally {
      await reservation.settle(settlement).catch((error: unknown) => {
        // Not fatal: a key not marked may let one duplicate through; a key not released lapses after its lease.
        log.warn(
          settlement === 'released'
            ? 'Could not release the key; a retry waits for its lease to lapse'
            : `Could not mark the key ${settlement}; a later duplicate may get through`,
          { error, dedupeKey: key, leaseMs: options.leaseMs },
        );
      });
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

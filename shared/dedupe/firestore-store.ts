/**
 * The {@link DedupeStore} on Firestore. One document per key in
 * `dedupeStore.collection` of the relay's own database:
 * `{ key, state: reserved | delivered | parked, owner, leaseUntil, expireAt, settledAt? }`.
 * `expireAt` is the TTL field (Firestore deletes the document after it,
 * usually within a day; an expired document still present counts as absent).
 *
 * Operations per delivery: a new key costs one `create` and one write when
 * settled; a duplicate costs a failed `create` and a transaction's read.
 * The library (and gRPC) loads on first use only: routes without `dedupe`
 * never pay for it. `emulatorHost` points it at the emulator (the library
 * itself also honours FIRESTORE_EMULATOR_HOST in the process environment).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Firestore, Timestamp } from '@google-cloud/firestore';
import { STORE_CALL_MS } from './dedupe.js';
import type { DedupeStore, Reservation, ReserveOptions, Settlement } from './store.js';

export interface FirestoreStoreOptions {
  projectId?: string;
  database: string;
  collection: string;
  /** `FIRESTORE_EMULATOR_HOST` (host:port), from the settings: talk to the emulator. */
  emulatorHost?: string;
  /** ms since the epoch; default Date.now. */
  now?: () => number;
  /** Bound on one store call once the client is loaded, ms; past it the call rejects (an outage), default 5 000. */
  timeoutMs?: number;
}

/** gRPC's ALREADY_EXISTS: `create` found the document. */
const ALREADY_EXISTS = 6;

interface Doc {
  key: string;
  state: 'reserved' | 'delivered' | 'parked';
  owner: string;
  leaseUntil: Timestamp;
  expireAt: Timestamp;
  /** When it was delivered or parked (a replay takes over a key parked before it). */
  settledAt?: Timestamp;
}

/** Document ids cannot hold "/" and are bounded: the key's SHA-256, base64url. */
export function documentId(key: string): string {
  return createHash('sha256').update(key).digest('base64url');
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Firestore did not answer ${what} within ${ms} ms`)), ms);
    timer.unref?.();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Opens the client on first use; a failed open is not remembered. */
export function firestoreDedupeStore(options: FirestoreStoreOptions): DedupeStore & { close(): Promise<void> } {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? STORE_CALL_MS;
  let opening: Promise<{ db: Firestore; ts: typeof Timestamp }> | undefined;

  const open = () =>
    (opening ??= (async () => {
      const { Firestore, Timestamp } = await import('@google-cloud/firestore');
      const { projectId, emulatorHost } = options;
      const db = new Firestore({
        ...(projectId ? { projectId } : {}),
        databaseId: options.database,
        ...(emulatorHost ? { host: emulatorHost, ssl: false } : {}),
      });
      return { db, ts: Timestamp };
    })().catch((error: unknown) => {
      opening = undefined;
      throw error;
    }));

  async function reserve(key: string, o: ReserveOptions): Promise<Reservation> {
    const { db, ts } = await open();
    const ref = db.collection(options.collection).doc(documentId(key));
    const at = now();
    const owner = randomUUID();
    const reserved: Doc = {
      key,
      state: 'reserved',
      owner,
      leaseUntil: ts.fromMillis(at + o.leaseMs),
      expireAt: ts.fromMillis(at + o.windowMs),
    };
    let writeTime: Timestamp | undefined;
    try {
      writeTime = (await ref.create(reserved)).writeTime;
    } catch (error) {
      if ((error as { code?: unknown }).code !== ALREADY_EXISTS) throw error;
      // Someone holds or held the key: take it over only if it has lapsed, atomically.
      const found = await db.runTransaction(async (tx) => {
        const snap = await tx.get(ref);
        const doc = snap.data() as Doc | undefined;
        if (doc?.state === 'delivered' && doc.expireAt.toMillis() > at) return 'delivered' as const;
        if (
          doc?.state === 'parked' &&
          doc.expireAt.toMillis() > at &&
          !(o.replayedAt !== undefined && (doc.settledAt?.toMillis() ?? 0) < o.replayedAt)
        )
          return 'parked' as const;
        if (doc?.state === 'reserved' && doc.leaseUntil.toMillis() > at) return 'in-flight' as const;
        tx.set(ref, reserved);
        return 'reserved' as const;
      });
      if (found !== 'reserved') return { state: found };
    }
    return {
      state: 'reserved',
      settle: async (outcome: Settlement) => {
        if (outcome !== 'released') {
          const settledAt = now();
          await ref.set({
            key,
            state: outcome,
            owner,
            leaseUntil: ts.fromMillis(0),
            expireAt: ts.fromMillis(settledAt + o.windowMs),
            settledAt: ts.fromMillis(settledAt),
          } satisfies Doc);
          return;
        }
        if (writeTime) {
          // Delete only our own reservation: the precondition fails if another instance took it over.
          await ref.delete({ lastUpdateTime: writeTime }).catch((error: unknown) => {
            if ((error as { code?: unknown }).code !== 9 /* FAILED_PRECONDITION */) throw error;
          });
          return;
        }
        await db.runTransaction(async (tx) => {
          const doc = (await tx.get(ref)).data() as Doc | undefined;
          if (doc?.owner === owner && doc.state === 'reserved') tx.delete(ref);
        });
      },
    };
  }

  return {
    async reserve(key, o) {
      await open(); // loading the library is not an outage: the bound starts after it
      const found = await withTimeout(reserve(key, o), timeoutMs, 'a reservation');
      if (found.state !== 'reserved') return found;
      return {
        state: 'reserved',
        settle: (outcome) =>
          withTimeout(found.settle(outcome), timeoutMs, outcome === 'released' ? 'a release' : `marking a key ${outcome}`),
      };
    },
    async remember(key, outcome, o) {
      const { db, ts } = await open();
      const ref = db.collection(options.collection).doc(documentId(key));
      const at = now();
      const doc: Doc = {
        key,
        state: outcome,
        owner: randomUUID(),
        leaseUntil: ts.fromMillis(0),
        expireAt: ts.fromMillis(at + o.windowMs),
        settledAt: ts.fromMillis(at),
      };
      await withTimeout(ref.set(doc), timeoutMs, `marking a key ${outcome}`);
    },
    async close() {
      const current = opening;
      opening = undefined;
      if (current) await (await current.catch(() => undefined))?.db.terminate();
    },
  };
}

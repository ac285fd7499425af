/**
 * What reached a bench target, and the check that makes a run honest: every
 * request a variant answered with 2xx must have reached the target (with a
 * valid ID token where the target checks one), and, through the relay, under
 * a delivery id the target had not seen before. A round whose counts disagree
 * fails the run instead of printing figures (issue 11: a fixed delivery id
 * once let the replay cache answer in place of relaying).
 */
import { request } from 'node:http';

/** Where a bench target answers its counts (GET); never counted itself. */
export const COUNTS_PATH = '/__bench/counts';

export interface TargetCounts {
  /** Requests whose body was read. */
  received: number;
  /** Of those, answered 2xx (for the verifying target: a valid ID token). */
  accepted: number;
  /** Refused with 401 (no or a bad token). */
  refused: number;
  /** Requests carrying an `Idempotency-Key` header. */
  keyed: number;
  /** Keyed requests whose key the target had already seen. */
  duplicateKeys: number;
}

const zero = (): TargetCounts => ({ received: 0, accepted: 0, refused: 0, keyed: 0, duplicateKeys: 0 });

/** Where a bench target that records keys answers them (GET): accepted key → arrival times (ms since the epoch). */
export const KEYS_PATH = '/__bench/keys';

/** Idempotency keys a target accepted (a valid token), each with the time of every arrival, first first. */
export type KeyArrivals = Record<string, number[]>;

export interface TargetCounter {
  record(idempotencyKey: string | undefined, accepted: boolean): void;
  snapshot(): TargetCounts;
  /** With `recordKeys`: every accepted key and when it arrived; else empty. */
  keys(): KeyArrivals;
}

/**
 * The counter a target keeps: `record` once per request, `snapshot` for
 * {@link COUNTS_PATH}; with `recordKeys` also the arrivals of each accepted
 * key for {@link KEYS_PATH} (the async bench checks key sets, not counts).
 */
export function createCounter(options: { recordKeys?: boolean; now?: () => number } = {}): TargetCounter {
  const counts = zero();
  const seen = new Set<string>();
  const arrivals = new Map<string, number[]>();
  const now = options.now ?? Date.now;
  return {
    record(key, accepted) {
      counts.received++;
      if (accepted) counts.accepted++;
      else counts.refused++;
      if (key !== undefined) {
        counts.keyed++;
        if (seen.has(key)) counts.duplicateKeys++;
        else seen.add(key);
        if (accepted && options.recordKeys) {
          const at = arrivals.get(key);
          if (at) at.push(now());
          else arrivals.set(key, [now()]);
        }
      }
    },
    snapshot: () => ({ ...counts }),
    keys: () => Object.fromEntries(arrivals),
  };
}

/** Reads a target's counts over loopback. */
export function readCounts(baseUrl: string): Promise<TargetCounts> {
  return readJson<TargetCounts>(baseUrl, COUNTS_PATH, 'counts');
}

/** Reads the keys a target recorded (started with RECORD_KEYS=1) over loopback. */
export function readKeys(baseUrl: string): Promise<KeyArrivals> {
  return readJson<KeyArrivals>(baseUrl, KEYS_PATH, 'keys');
}

function readJson<T>(baseUrl: string, path: string, what: string): Promise<T> {
  const url = new URL(path, baseUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'GET', agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(text) as T);
        } catch (error) {
          reject(new Error(`${url.href} answered ${res.statusCode}, not ${what}: ${text.slice(0, 100)}`, { cause: error }));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** `after - before`, field by field. */
export function countsBetween(before: TargetCounts, after: TargetCounts): TargetCounts {
  const out = zero();
  for (const k of Object.keys(out) as (keyof TargetCounts)[]) out[k] = after[k] - before[k];
  return out;
}

export interface RoundTally {
  /** What was measured, for the message. */
  what: string;
  /** 2xx answers the load generator got (warm-up and tail included). */
  answered: number;
  /** Failed requests (non-2xx or network errors). */
  errors: number;
  /** What the target counted during the round. */
  reached: TargetCounts;
  /** The variant sends an `Idempotency-Key` per request (the relay): each must be new. */
  keyed?: boolean;
}

/** Thrown when a round's counts disagree; the bench exits non-zero without printing that section's figures. */
export class CountMismatchError extends Error {
  override name = 'CountMismatchError';
  constructor(readonly problems: string[]) {
    super(`Counts disagree, figures withheld:\n- ${problems.join('\n- ')}`);
  }
}

/** The problems with one round's counts (empty when honest). */
export function roundProblems(t: RoundTally): string[] {
  const p: string[] = [];
  const r = t.reached;
  if (t.answered === 0) p.push(`${t.what}: no request was answered`);
  if (t.errors > 0) p.push(`${t.what}: ${t.errors} requests failed`);
  if (r.accepted !== t.answered)
    p.push(`${t.what}: answered ${t.answered} requests but the target accepted ${r.accepted} (received ${r.received})`);
  if (r.refused > 0) p.push(`${t.what}: the target refused ${r.refused} requests (no or an invalid ID token)`);
  if (t.keyed) {
    if (r.keyed !== r.received)
      p.push(`${t.what}: ${r.received - r.keyed} of ${r.received} requests reached the target without an Idempotency-Key`);
    if (r.duplicateKeys > 0)
      p.push(`${t.what}: ${r.duplicateKeys} requests reached the target under an Idempotency-Key it had already seen`);
  }
  return p;
}

/** Throws {@link CountMismatchError} listing every problem of every round given. */
export function assertHonest(tallies: RoundTally[]): void {
  const problems = tallies.flatMap(roundProblems);
  if (problems.length) throw new CountMismatchError(problems);
}

/**
 * The async rule (at-least-once delivery through Pub/Sub): what the sender
 * was answered 202 for, by idempotency key, against what reached the target
 * with a valid token. The sets must be equal; a key received more than once
 * is a figure (Pub/Sub redelivers), not a failure.
 */
export interface DeliveryTally {
  what: string;
  /** The idempotency key of every delivery the relay accepted (202), once per answer, in answer order. */
  accepted: readonly string[];
  /** Failed requests (non-2xx or network errors). */
  errors: number;
  /** Key → arrivals with a valid token, as the target recorded them ({@link KeyArrivals}). */
  received: KeyArrivals;
  /** Requests the target refused (no or an invalid ID token). */
  refused: number;
}

export interface DeliveryFigures {
  /** Distinct keys answered 202. */
  accepted: number;
  /** Distinct keys that reached the target. */
  received: number;
  /** Arrivals at the target in all (received + duplicates). */
  arrivals: number;
  /** Arrivals of a key already received (redeliveries). */
  duplicates: number;
  /** Keys received more than once. */
  duplicatedKeys: number;
}

export function deliveryFigures(t: DeliveryTally): DeliveryFigures {
  const keys = Object.values(t.received);
  const arrivals = keys.reduce((n, a) => n + a.length, 0);
  return {
    accepted: new Set(t.accepted).size,
    received: keys.length,
    arrivals,
    duplicates: arrivals - keys.length,
    duplicatedKeys: keys.filter((a) => a.length > 1).length,
  };
}

const some = (keys: string[]) => keys.slice(0, 3).join(', ') + (keys.length > 3 ? ', ...' : '');

/** The problems with an async run's keys (empty when every accepted key, and only those, reached the target). */
export function deliveryProblems(t: DeliveryTally): string[] {
  const p: string[] = [];
  const accepted = new Set<string>();
  const twice = new Set<string>();
  for (const key of t.accepted) (accepted.has(key) ? twice : accepted).add(key);
  if (accepted.size === 0) p.push(`${t.what}: no webhook was accepted`);
  if (t.errors > 0) p.push(`${t.what}: ${t.errors} requests failed`);
  if (twice.size > 0)
    p.push(
      `${t.what}: ${twice.size} idempotency keys were answered 202 more than once (${some([...twice])}): deliveries cannot be told apart`,
    );
  const missing = [...accepted].filter((k) => !Object.hasOwn(t.received, k));
  if (missing.length > 0)
    p.push(`${t.what}: ${missing.length} of ${accepted.size} accepted webhooks never reached the target (${some(missing)})`);
  const unexpected = Object.keys(t.received).filter((k) => !accepted.has(k));
  if (unexpected.length > 0)
    p.push(`${t.what}: ${unexpected.length} keys reached the target that were never accepted (${some(unexpected)})`);
  if (t.refused > 0) p.push(`${t.what}: the target refused ${t.refused} requests (no or an invalid ID token)`);
  return p;
}

/** Throws {@link CountMismatchError} unless the keys agree; returns the figures (duplicates included) when they do. */
export function assertDelivered(t: DeliveryTally): DeliveryFigures {
  const problems = deliveryProblems(t);
  if (problems.length) throw new CountMismatchError(problems);
  return deliveryFigures(t);
}

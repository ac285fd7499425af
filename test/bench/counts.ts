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

/** The counter a target keeps: `record` once per request, `snapshot` for {@link COUNTS_PATH}. */
export function createCounter(): { record(idempotencyKey: string | undefined, accepted: boolean): void; snapshot(): TargetCounts } {
  const counts = zero();
  const seen = new Set<string>();
  return {
    record(key, accepted) {
      counts.received++;
      if (accepted) counts.accepted++;
      else counts.refused++;
      if (key !== undefined) {
        counts.keyed++;
        if (seen.has(key)) counts.duplicateKeys++;
        else seen.add(key);
      }
    },
    snapshot: () => ({ ...counts }),
  };
}

/** Reads a target's counts over loopback. */
export function readCounts(baseUrl: string): Promise<TargetCounts> {
  const url = new URL(COUNTS_PATH, baseUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'GET', agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(text) as TargetCounts);
        } catch (error) {
          reject(new Error(`${url.href} answered ${res.statusCode}, not counts: ${text.slice(0, 100)}`, { cause: error }));
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
  if (r.accepted !== t.answered) p.push(`${t.what}: answered ${t.answered} requests but the target accepted ${r.accepted} (received ${r.received})`);
  if (r.refused > 0) p.push(`${t.what}: the target refused ${r.refused} requests (no or an invalid ID token)`);
  if (t.keyed) {
    if (r.keyed !== r.received) p.push(`${t.what}: ${r.received - r.keyed} of ${r.received} requests reached the target without an Idempotency-Key`);
    if (r.duplicateKeys > 0) p.push(`${t.what}: ${r.duplicateKeys} requests reached the target under an Idempotency-Key it had already seen`);
  }
  return p;
}

/** Throws {@link CountMismatchError} listing every problem of every round given. */
export function assertHonest(tallies: RoundTally[]): void {
  const problems = tallies.flatMap(roundProblems);
  if (problems.length) throw new CountMismatchError(problems);
}

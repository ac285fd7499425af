/**
 * Bounded, seeded fuzzing of the webhook relay across every registered
 * scheme (routes, signers and header lists come from the scheme registry, see
 * test/support/fuzz-cases.ts): random bytes, oversized, forged, tampered,
 * stripped, stale and duplicated signatures, signed non-UTF-8 bodies, and
 * honest requests with relay headers smuggled in. Most cases run in-process
 * against the relay core (createRelay with a recording fetch); a share runs
 * over real HTTP through the Functions Framework and the front door to a
 * token-verifying target. Every answer must be JSON of the expected status
 * class, nothing may be forwarded without a valid signature, every honest
 * request must be forwarded exactly once, byte for byte, with no signature
 * and no sender-chosen relay header, and no secret may appear in an answer
 * or a log line. FUZZ_SEED replays a failure.
 */
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config/load.js';
import { RELAY_OWN_HEADERS } from '../../shared/forward/headers.js';
import { createTokenCache } from '../../shared/identity/token-cache.js';
import { createLogger } from '../../shared/log.js';
import { createRelay } from '../../shared/relay.js';
import { SIGNATURE_HEADERS, signatureHeadersOf, verifySchema } from '../../shared/verify/registry.js';
import type { MetadataServer } from '../emulators/metadata-server.js';
import { echo } from '../emulators/private-target.js';
import { caseAgent, fuzzCases, type FuzzCase } from '../support/fuzz-cases.js';
import {
  assertEveryScheme,
  FIXTURE_ENV,
  FIXTURE_SECRET,
  schemeFixtures,
  type SchemeFixture,
  type SchemeName,
} from '../support/scheme-fixtures.js';
import { startStack, useMetadataServer, type Stack } from '../support/stack.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261122);
const IN_PROCESS_CASES = 15_000;
const HTTP_CASES = 2_000;
const MAX_BODY = 4096;
const FAKE_TOKEN = 'relay.id.token';
const SECRETS = [FIXTURE_SECRET, ...Object.values(FIXTURE_ENV)];
/** Headers Node keeps only the first of when repeated; the rest it joins with ", ". */
const FIRST_ONLY = new Set([
  'authorization',
  'content-type',
  'content-length',
  'user-agent',
  'host',
  'from',
  'referer',
  'age',
  'etag',
  'expires',
  'location',
]);

let metadata: MetadataServer;
let fixtures: Record<SchemeName, SchemeFixture>;
let routes: Record<string, unknown>;
let stack: Stack;

beforeAll(async () => {
  metadata = await useMetadataServer();
  // One token per audience is enough: google-oidc tokens carry no per-request data (and RSA signing is slow).
  const minted = new Map<string, string>();
  fixtures = schemeFixtures({
    serviceAccount: metadata.serviceAccount,
    mint: (aud) => minted.get(aud) ?? (minted.set(aud, metadata.mint(aud)), minted.get(aud)!),
  });
  assertEveryScheme(fixtures);
  routes = Object.fromEntries(
    Object.entries(fixtures).map(([name, f]) => [name, { verify: f.verify, forward: [{ target: 'svc' }], maxBodyBytes: MAX_BODY }]),
  );
  stack = await startStack({
    env: FIXTURE_ENV,
    settings: { googleCertsUrl: metadata.pemCertsUrl },
    metadata,
    targets: { svc: { behaviour: echo } },
    routes,
  });
});
afterAll(async () => {
  await stack?.close();
  await metadata?.close();
});

interface Answer {
  status: number;
  type: string;
  body: string;
}
interface Forwarded {
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

const STATUS: Record<FuzzCase['expected'], (status: number) => boolean> = {
  forward: (s) => s === 200,
  refuse: (s) => s >= 400 && s < 500 && s !== 413,
  too_large: (s) => s === 413,
};

/** Forwarded requests by the user-agent that names their case (Map.groupBy is Node 21+). */
function byAgent(received: readonly Forwarded[]): Map<string, Forwarded[]> {
  const out = new Map<string, Forwarded[]>();
  for (const f of received) {
    const agent = String(f.headers['user-agent']);
    out.set(agent, [...(out.get(agent) ?? []), f]);
  }
  return out;
}

/** What is wrong with the answer to `c`, or undefined. */
function answerProblem(c: FuzzCase, answer: Answer): string | undefined {
  if (!STATUS[c.expected](answer.status)) return `expected ${c.expected}, got ${answer.status}`;
  if (!answer.type.startsWith('application/json')) return `answer is ${answer.type || 'untyped'}, not JSON`;
  let parsed: { error?: { code?: unknown; message?: unknown } };
  try {
    parsed = JSON.parse(answer.body);
  } catch {
    return 'answer body is not JSON';
  }
  if (c.expected !== 'forward' && (typeof parsed.error?.code !== 'string' || typeof parsed.error?.message !== 'string'))
    return 'error answer lacks {error: {code, message}}';
  if (answer.body.includes('    at ')) return 'answer quotes a stack trace';
  if (SECRETS.some((s) => answer.body.includes(s))) return 'answer contains a secret';
  return undefined;
}

/** What is wrong with what reached the target for `c`, or undefined. */
function forwardProblem(c: FuzzCase, got: Forwarded[], tokenHeader: string): string | undefined {
  if (c.expected !== 'forward') return got.length === 0 ? undefined : `forwarded ${got.length} time(s) without a valid signature`;
  if (got.length !== 1) return `an honest request was forwarded ${got.length} times`;
  const [f] = got as [Forwarded];
  if (!f.body.equals(c.body)) return 'the body changed on the way';
  const own = signatureHeadersOf(verifySchema.parse(fixtures[c.route].verify));
  for (const name of Object.keys(f.headers)) {
    if (name !== tokenHeader && (SIGNATURE_HEADERS.has(name) || own.includes(name))) return `signature header ${name} reached the target`;
  }
  for (const name of RELAY_OWN_HEADERS) {
    const sent = c.headers[name];
    if (sent !== undefined && !name.startsWith('x-forwarded-') && String(f.headers[name]) === String(Array.isArray(sent) ? sent[0] : sent))
      return `the sender's ${name} reached the target`;
  }
  if (SECRETS.some((s) => JSON.stringify(f.headers).includes(s))) return 'a secret reached the target in a header';
  return undefined;
}

/** Runs `cases` through `send`, `workers` at a time, and returns every problem found (at most 10 quoted). */
async function run(
  cases: FuzzCase[],
  workers: number,
  send: (c: FuzzCase) => Promise<Answer>,
  forwarded: () => Map<string, Forwarded[]>,
  tokenHeader: string,
) {
  const problems: string[] = [];
  const statuses = new Map<number, number>();
  const note = (c: FuzzCase, problem: string | undefined) => {
    if (problem && problems.push(`#${c.index} ${c.route}/${c.kind}: ${problem}`) > 10) problems.length = 10;
  };
  const answers = new Map<number, Answer>();
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < cases.length) {
        const c = cases[next++]!;
        const answer = await send(c);
        answers.set(c.index, answer);
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      }
    }),
  );
  const byAgent = forwarded();
  let forwardedTotal = 0;
  for (const list of byAgent.values()) forwardedTotal += list.length;
  for (const c of cases) {
    const answer = answers.get(c.index)!;
    note(c, answerProblem(c, answer) ?? forwardProblem(c, byAgent.get(caseAgent(c.index)) ?? [], tokenHeader));
  }
  return { problems, statuses, forwardedTotal, honest: cases.filter((c) => c.expected === 'forward').length };
}

function coverage(cases: FuzzCase[]) {
  const seen = new Set(cases.map((c) => `${c.route}:${c.expected}`));
  return Object.keys(fixtures).filter(
    (route) => !seen.has(`${route}:forward`) || !seen.has(`${route}:too_large`) || (route !== 'none' && !seen.has(`${route}:refuse`)),
  );
}

describe('fuzzing the webhook relay across every registered scheme', () => {
  it(`the relay core answers ${IN_PROCESS_CASES} seeded cases (seed ${SEED}) as the oracle expects`, async () => {
    const now = Date.now();
    const generator = fuzzCases(fixtures, { seed: SEED, maxBody: MAX_BODY, nowMs: () => now });
    expect(generator.routes).toEqual(Object.keys(fixtures));
    const cases = Array.from({ length: IN_PROCESS_CASES }, (_, i) => generator.next(i));
    expect(coverage(cases)).toEqual([]);
    const received: Forwarded[] = [];
    const logs: string[] = [];
    const relay = createRelay(
      parseConfig({ targets: { svc: { url: 'http://127.0.0.1:9', retry: { retries: 0 } } }, routes }, FIXTURE_ENV),
      {
        tokens: createTokenCache({ source: { fetchIdToken: async () => FAKE_TOKEN } }),
        fetch: (async (_url: string, init: RequestInit) => {
          received.push({ headers: init.headers as Record<string, string>, body: Buffer.from(init.body as Buffer) });
          return new Response('{"ok":true}', { status: 200, headers: { 'content-type': 'application/json' } });
        }) as typeof fetch,
        logger: createLogger({ write: (line) => logs.push(line) }),
        now: () => now,
        settings: { googleCertsUrl: metadata.pemCertsUrl },
      },
    );
    const started = performance.now();
    const result = await run(
      cases,
      8,
      async (c) => {
        const headers: Record<string, string> = { 'content-length': String(c.body.length) };
        for (const [name, value] of Object.entries(c.headers))
          headers[name] = Array.isArray(value) ? (FIRST_ONLY.has(name) ? value[0]! : value.join(', ')) : value;
        const answer = await relay.handle({
          method: 'POST',
          path: `/${c.route}`,
          query: c.query,
          headers,
          rawBody: c.body,
          remoteAddress: '127.0.0.1',
          protocol: 'http',
        });
        return { status: answer.status, type: answer.headers['content-type'] ?? '', body: answer.body.toString() };
      },
      () => byAgent(received),
      'authorization',
    );
    const elapsed = performance.now() - started;
    console.log(
      `fuzz (in-process): ${cases.length} cases in ${Math.round(elapsed)} ms; ${result.honest} forwarded; statuses ${JSON.stringify(Object.fromEntries(result.statuses))}`,
    );
    expect(result.problems).toEqual([]);
    expect(result.forwardedTotal).toBe(result.honest);
    expect([...result.statuses.keys()]).toEqual(expect.arrayContaining([200, 400, 401, 413]));
    expect(logs.filter((line) => SECRETS.some((s) => line.includes(s)))).toEqual([]);
    expect(elapsed).toBeLessThan(45_000);
  }, 90_000);

  it(`the running function answers ${HTTP_CASES} seeded cases over real HTTP as the oracle expects, and stays up`, async () => {
    const generator = fuzzCases(fixtures, { seed: SEED + 1, maxBody: MAX_BODY, nowMs: Date.now });
    const cases = Array.from({ length: HTTP_CASES }, (_, i) => {
      const c = generator.next(i);
      // The front door refuses any Content-Encoding these routes did not opt in to.
      if (c.index % 25 === 0 && c.expected !== 'too_large')
        return {
          ...c,
          kind: `${c.kind}+encoded`,
          headers: { ...c.headers, 'content-encoding': ['gzip', 'br', 'deflate', 'x-zip'][c.index % 4]! },
          expected: 'refuse' as const,
        };
      return c;
    });
    const url = new URL(stack.url);
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const received = stack.targets.svc!.received;
    received.length = 0;
    const started = performance.now();
    const result = await run(
      cases,
      16,
      (c) =>
        new Promise<Answer>((resolve, reject) => {
          const req = request(
            {
              host: url.hostname,
              port: url.port,
              path: `/${c.route}${c.query}`,
              method: 'POST',
              agent,
              headers: { ...c.headers, 'content-length': c.body.length },
            },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (d: Buffer) => chunks.push(d));
              res.on('end', () =>
                resolve({
                  status: res.statusCode ?? 0,
                  type: String(res.headers['content-type'] ?? ''),
                  body: Buffer.concat(chunks).toString(),
                }),
              );
              res.on('error', reject);
            },
          );
          req.on('error', reject);
          req.end(c.body);
        }),
      () => byAgent(received),
      'authorization',
    );
    agent.destroy();
    const elapsed = performance.now() - started;
    console.log(
      `fuzz (HTTP): ${cases.length} cases in ${Math.round(elapsed)} ms; ${result.honest} forwarded; statuses ${JSON.stringify(Object.fromEntries(result.statuses))}`,
    );
    expect(result.problems).toEqual([]);
    expect(result.forwardedTotal).toBe(result.honest);
    expect([...result.statuses.keys()]).toEqual(expect.arrayContaining([200, 400, 401, 413, 415]));
    expect(stack.targets.svc!.rejected).toHaveLength(0);
    expect(stack.logs.filter((line) => SECRETS.some((s) => line.includes(s)))).toEqual([]);
    expect(elapsed).toBeLessThan(45_000);
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
  }, 90_000);

  it.each(['/github', '//github', '/github/?x=1'])(
    'refuses a body whose declared length is over the limit before reading it (%s)',
    async (path) => {
      const url = new URL(stack.url);
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            path,
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': 100 * 1024 * 1024 },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (d: Buffer) => chunks.push(d));
            res.on('end', () => {
              resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
              req.destroy();
            });
          },
        );
        req.on('error', reject);
        // Only the first bytes of the declared 100 MiB are ever sent: the answer must not wait for the rest.
        req.write('{"a":');
      });
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body)).toEqual({
        error: { code: 'payload_too_large', message: `Body exceeds this route's limit of ${MAX_BODY} bytes` },
      });
    },
  );
});

/**
 * Seeded hostile (and some honest) webhook requests for every registered
 * scheme, each with the outcome the relay must give. Routes, signers and
 * header lists come from the scheme registry and its fixtures, so a new
 * scheme is fuzzed as soon as it is registered (and fails the typecheck of
 * scheme-fixtures.ts until it has a fixture).
 */
import { RELAY_OWN_HEADERS } from '../../shared/forward/headers.js';
import {
  forwardHeadersOf,
  SIGNATURE_HEADERS,
  signatureHeadersOf,
  signedHeadersOf,
  verifySchema,
  type VerifyOptions,
} from '../../shared/verify/registry.js';
import { FIXTURE_SECRET, type SchemeFixture, type SchemeName } from './scheme-fixtures.js';

/** What the relay must do with a case. */
export type Expected = 'forward' | 'refuse' | 'too_large';

export interface FuzzCase {
  index: number;
  route: SchemeName;
  kind: string;
  headers: Record<string, string | string[]>;
  body: Buffer;
  query: string;
  expected: Expected;
}

/** mulberry32: a small seeded PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TYPES = [
  'application/json',
  'application/x-www-form-urlencoded',
  'text/plain',
  'application/octet-stream',
  'application/json; charset=utf-16',
  'multipart/form-data; boundary=x',
  '',
];
/** Relay-set headers a sender may try to set (not the credential a bearer route checks). */
const SMUGGLE = RELAY_OWN_HEADERS.filter((h) => h !== 'authorization' && !h.startsWith('x-forwarded-'));
/** The user-agent every case carries (DEFAULT_FORWARDED), so a forwarded request can be traced to its case. */
export const caseAgent = (index: number) => `fuzz/${index}`;

export interface Generator {
  routes: readonly SchemeName[];
  /** Every header name the registry declares for any scheme, plus the relay's own. */
  headerPool: readonly string[];
  next(index: number): FuzzCase;
}

/**
 * A generator over `fixtures` (one route per scheme, named for it), bodies up
 * to `maxBody` bytes, timestamps from `nowMs()`.
 */
export function fuzzCases(
  fixtures: Record<SchemeName, SchemeFixture>,
  options: { seed: number; maxBody: number; nowMs: () => number },
): Generator {
  const random = rng(options.seed);
  const routes = Object.keys(fixtures) as SchemeName[];
  const parsed = Object.fromEntries(routes.map((r) => [r, verifySchema.parse(fixtures[r].verify)])) as Record<SchemeName, VerifyOptions>;
  const signatureOf = (r: SchemeName) => signatureHeadersOf(parsed[r]);
  const signedOf = (r: SchemeName) => signedHeadersOf(parsed[r]);
  const headerPool = [
    ...new Set([
      'content-type',
      ...SIGNATURE_HEADERS.keys(),
      ...RELAY_OWN_HEADERS,
      ...routes.flatMap((r) => [...signatureOf(r), ...signedOf(r), ...forwardHeadersOf(parsed[r])]),
    ]),
  ];
  const authHeaders = [...new Set(routes.flatMap((r) => [...signatureOf(r), ...signedOf(r)]))];

  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  const int = (n: number) => Math.floor(random() * n);
  const bytes = (n: number) => {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = int(256);
    return out;
  };
  const text = (n: number) => {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = 32 + int(95);
    return out.toString('latin1');
  };
  const junkValue = (now: number) =>
    pick([
      text(int(200)),
      'sha256=',
      'sha256=' + 'a'.repeat(64),
      'v0=zz',
      `v0=${'b'.repeat(64)}`,
      't=,v1=',
      `t=${now},v1=${'c'.repeat(64)}`,
      'v1,',
      'v1,AAAA',
      'Bearer',
      'Bearer  ',
      'Bearer a.b.c',
      'Bearer eyJhbGciOiJSUzI1NiJ9.eyJ9.x',
      '=',
      String(now),
      '-1',
      '99999999999999999999',
    ]);

  function signedCase(index: number, route: SchemeName, body: Buffer, secret = FIXTURE_SECRET, nowMs = options.nowMs()) {
    const fixture = fixtures[route];
    const signed = fixture.sign({ body, nowMs, id: `d-${options.seed}-${index}`, secret });
    return {
      headers: { 'content-type': fixture.contentType, ...signed.headers } as Record<string, string | string[]>,
      query: signed.query,
    };
  }

  function next(index: number): FuzzCase {
    const route = pick(routes);
    const fixture = () => fixtures[route];
    const open = () => signatureOf(route).length === 0; // `none`: every bounded request is forwarded
    const now = Math.floor(options.nowMs() / 1000);
    const honest = Buffer.from(
      JSON.stringify({ id: `evt_${index}`, event_id: `Ev${index}`, type: 'fuzz.event', event: 'fuzz.event', payload: text(int(300)) }),
    );
    let headers: Record<string, string | string[]> = {};
    let body: Buffer;
    let query = '';
    let expected: Expected;
    const kinds = [
      'junk',
      'oversized',
      'valid',
      'forged',
      'tampered',
      'stripped',
      'signed-header-changed',
      'duplicated',
      'stale',
      'signed-non-json',
      'malformed',
    ] as const;
    const kind = pick(kinds);
    switch (kind) {
      case 'junk': // random bytes, random type, junk on any declared header
        body = bytes(int(2048));
        for (const name of headerPool) if (random() < 0.15) headers[name] = junkValue(now);
        if (random() < 0.8) headers['content-type'] = pick(TYPES);
        expected = open() ? 'forward' : 'refuse';
        break;
      case 'oversized': // validly signed, but over the route's limit
        // Random head, cheap tail: the limit is about length, not content.
        body = Buffer.concat([bytes(64), Buffer.alloc(options.maxBody - 63 + int(60_000), 0x7b)]);
        ({ headers, query } = signedCase(index, route, body));
        expected = 'too_large';
        break;
      case 'valid': // the honest sender, with relay-set headers smuggled in
        body = honest;
        ({ headers, query } = signedCase(index, route, body));
        for (const name of SMUGGLE) if (random() < 0.5) headers[name] = `sender-${text(8)}`;
        expected = 'forward';
        break;
      case 'forged': // well-formed, with the wrong secret (a token for another audience, for google-oidc)
        body = honest;
        ({ headers, query } = signedCase(index, route, body, 'forged-secret-value'));
        expected = open() ? 'forward' : 'refuse';
        break;
      case 'tampered': {
        // signed, then a bit flipped, bytes cut or one appended
        ({ headers, query } = signedCase(index, route, honest));
        const op = int(3);
        body = Buffer.from(honest);
        if (op === 0) body[int(body.length)]! ^= 1 << int(8);
        else if (op === 1) body = body.subarray(0, int(body.length));
        else body = Buffer.concat([body, bytes(1)]);
        expected = fixture().signsBody ? 'refuse' : 'forward';
        break;
      }
      case 'stripped': // every signature header removed
        body = honest;
        ({ headers, query } = signedCase(index, route, body));
        for (const name of signatureOf(route)) delete headers[name];
        expected = open() ? 'forward' : 'refuse';
        break;
      case 'signed-header-changed': {
        // a timestamp or id the signature covers, changed
        body = honest;
        ({ headers, query } = signedCase(index, route, body));
        const present = signedOf(route).filter((h) => typeof headers[h] === 'string');
        if (present.length > 0) {
          const name = pick(present);
          headers[name] = String(headers[name]) + String(1 + int(9));
        } else {
          ({ headers, query } = signedCase(index, route, body, 'forged-secret-value'));
        }
        expected = open() ? 'forward' : 'refuse';
        break;
      }
      case 'duplicated': // signature and signed headers sent twice, with junk values
        body = Buffer.from(text(int(300)));
        for (const name of authHeaders) if (random() < 0.5) headers[name] = [text(20), 'sha256=' + 'a'.repeat(64), `v0=${'b'.repeat(64)}`];
        expected = open() ? 'forward' : 'refuse';
        break;
      case 'stale': {
        // validly signed too long ago (or in the future)
        const tolerance = fixture().toleranceSeconds;
        body = honest;
        const skew = ((tolerance ?? 0) + 60 + int(100_000)) * 1000 * (random() < 0.5 ? -1 : 1);
        ({ headers, query } = signedCase(index, route, body, tolerance ? FIXTURE_SECRET : 'forged-secret-value', options.nowMs() + skew));
        expected = open() ? 'forward' : 'refuse';
        break;
      }
      case 'signed-non-json': // validly signed bytes that are not UTF-8 JSON, typed as JSON
        body = Buffer.concat([Buffer.from('{"id":'), bytes(64), Buffer.from([0xc3, 0x28, 0xff])]);
        ({ headers, query } = signedCase(index, route, body));
        headers['content-type'] = 'application/json';
        expected = fixture().parsesJson ? 'refuse' : 'forward';
        break;
      case 'malformed': // malformed values of every shape on the route's own headers
        body = Buffer.from(text(int(500)));
        headers['content-type'] = fixture().contentType;
        for (const name of [...signatureOf(route), ...signedOf(route)]) if (random() < 0.8) headers[name] = junkValue(now);
        expected = open() ? 'forward' : 'refuse';
        break;
    }
    if (expected! !== 'too_large' && body!.length > options.maxBody) expected = 'too_large';
    headers['user-agent'] = caseAgent(index);
    return { index, route, kind, headers, body: body!, query, expected: expected! };
  }

  return { routes, headerPool, next };
}

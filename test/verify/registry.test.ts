/**
 * What the scheme registry declares is true of the verifiers: every header a
 * verifier reads is declared, the declared signature headers are what make a
 * request valid, every signed header is covered by the signature, and no
 * scheme forwards a credential or a header the relay sets. The config check
 * and the fuzz test rely on these declarations instead of their own lists.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELAY_OWN_HEADERS } from '../../shared/forward/headers.js';
import {
  forwardHeadersOf,
  replayWindowSecondsOf,
  SCHEMES,
  SIGNATURE_HEADERS,
  signatureHeadersOf,
  signedHeadersOf,
  verifySchema,
} from '../../shared/verify/registry.js';
import { startMetadataServer, type MetadataServer } from '../emulators/metadata-server.js';
import {
  assertEveryScheme,
  FIXTURE_ENV,
  FIXTURE_SECRET,
  schemeFixtures,
  type SchemeFixture,
  type SchemeName,
} from '../support/scheme-fixtures.js';
import { outcome, verifierFor } from '../support/verifiers.js';

let metadata: MetadataServer;
let fixtures: Record<SchemeName, SchemeFixture>;
beforeAll(async () => {
  metadata = await startMetadataServer();
  fixtures = schemeFixtures(metadata);
});
afterAll(() => metadata.close());

const names = SCHEMES.map((s) => s.scheme) as SchemeName[];
const body = Buffer.from(JSON.stringify({ id: 'evt_1', event_id: 'Ev1', type: 'fuzz.event', event: 'fuzz.event', data: { n: 1 } }));

function request(scheme: SchemeName, secret = FIXTURE_SECRET) {
  const fixture = fixtures[scheme];
  const signed = fixture.sign({ body, nowMs: Date.now(), id: 'delivery-1', secret });
  return {
    headers: { 'content-type': fixture.contentType, ...signed.headers } as Record<string, string>,
    rawBody: body,
    query: signed.query,
  };
}

const verifier = (scheme: SchemeName) => verifierFor(fixtures[scheme].verify, FIXTURE_ENV, { googleCertsUrl: metadata.pemCertsUrl });
const options = (scheme: SchemeName) => verifySchema.parse(fixtures[scheme].verify);

describe('the scheme registry', () => {
  it('has a test fixture for every registered scheme, so no scheme escapes the fuzz test', () => {
    expect(() => assertEveryScheme(fixtures)).not.toThrow();
    expect(() => assertEveryScheme({ ...fixtures, extra: fixtures.none })).toThrow(/registry has/);
  });

  it.each(names)('%s: a request signed as the fixture says passes', async (scheme) => {
    expect(await outcome(verifier(scheme), request(scheme))).toMatchObject({ ok: true });
  });

  it.each(names)('%s: every header the verifier reads is declared (signature, signed or forwarded)', async (scheme) => {
    const read = new Set<string>();
    const { headers, ...rest } = request(scheme);
    const watched = new Proxy(headers, { get: (target, key) => (typeof key === 'string' && read.add(key), target[key as string]) });
    await outcome(verifier(scheme), { ...rest, headers: watched });
    const declared = new Set([
      'content-type',
      ...signatureHeadersOf(options(scheme)),
      ...signedHeadersOf(options(scheme)),
      ...forwardHeadersOf(options(scheme)),
    ]);
    expect([...read].filter((h) => !declared.has(h))).toEqual([]);
  });

  it.each(names.filter((s) => s !== 'none'))(
    '%s: without its signature headers, with a forged signature, or with any signed header changed, a request is refused',
    async (scheme) => {
      const valid = request(scheme);
      const stripped = Object.fromEntries(
        Object.entries(valid.headers).filter(([name]) => !signatureHeadersOf(options(scheme)).includes(name)),
      );
      expect(signatureHeadersOf(options(scheme)).length).toBeGreaterThan(0);
      expect(await outcome(verifier(scheme), { ...valid, headers: stripped })).toMatchObject({ ok: false, status: 401 });
      expect(await outcome(verifier(scheme), request(scheme, 'a-forged-secret-value'))).toMatchObject({ ok: false, status: 401 });
      for (const name of signedHeadersOf(options(scheme))) {
        if (valid.headers[name] === undefined) continue;
        expect(
          await outcome(verifier(scheme), { ...valid, headers: { ...valid.headers, [name]: valid.headers[name] + '1' } }),
          name,
        ).toMatchObject({ ok: false, status: 401 });
      }
    },
  );

  it.each(names)('%s: forwards no signature, credential or header the relay sets', (scheme) => {
    const forwarded = forwardHeadersOf(options(scheme));
    expect(
      forwarded.filter((h) => SIGNATURE_HEADERS.has(h) || signatureHeadersOf(options(scheme)).includes(h) || RELAY_OWN_HEADERS.includes(h)),
    ).toEqual([]);
  });

  it.each(names)('%s: the replay window is the declared timestamp tolerance, else 300 s', (scheme) => {
    expect(replayWindowSecondsOf(options(scheme))).toBe(fixtures[scheme].toleranceSeconds ?? 300);
  });

  it('takes the replay window from the route options the scheme declares it in', () => {
    expect(replayWindowSecondsOf(verifySchema.parse({ scheme: 'stripe', secretEnv: 'S', toleranceSeconds: 60 }))).toBe(60);
    expect(replayWindowSecondsOf(verifySchema.parse({ scheme: 'github', secretEnv: 'S' }))).toBe(300);
  });

  it("derives an hmac route's signature and signed headers from its options", () => {
    expect(signatureHeadersOf(verifySchema.parse({ scheme: 'hmac', secretEnv: 'S', header: 'X-Sig' }))).toEqual(['x-sig']);
    expect(
      signedHeadersOf(
        verifySchema.parse({ scheme: 'hmac', secretEnv: 'S', header: 'x-sig', timestampHeader: 'X-TS', deliveryIdHeader: 'x-id' }),
      ),
    ).toEqual(['x-ts']);
    expect(
      signedHeadersOf(
        verifySchema.parse({ scheme: 'hmac', secretEnv: 'S', header: 'x-sig', deliveryIdHeader: 'x-id', template: '{id}.{body}' }),
      ),
    ).toEqual(['x-id']);
  });
});

/**
 * `run-relay send`'s signers against the relay's own verifiers: for every
 * scheme in the registry, a signed body verifies and a tampered one does not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRequest, sampleBody, SignError } from '../../shared/cli/sign.js';
import { createVerifier, SCHEMES, verifySchema } from '../../shared/verify/registry.js';
import { startMetadataServer, type MetadataServer } from '../emulators/metadata-server.js';

const SECRETS: Record<string, string> = { S: 'local-secret', WH: 'whsec_' + Buffer.from('sixteen-byte-key').toString('base64') };
const PUBLIC_URL = 'https://relay.example.com/twilio';
const SA = 'relay@local-project.iam.gserviceaccount.com';

/** One `verify:` block per registered scheme; a scheme missing here fails the table below. */
const CASES: Record<string, { verify: Record<string, unknown>; contentType?: string; body?: string; signsBody: boolean }> = {
  github: { verify: { scheme: 'github', secretEnv: 'S' }, signsBody: true },
  stripe: { verify: { scheme: 'stripe', secretEnv: 'S' }, signsBody: true },
  slack: { verify: { scheme: 'slack', secretEnv: 'S' }, signsBody: true },
  shopify: { verify: { scheme: 'shopify', secretEnv: 'S' }, signsBody: true },
  'standard-webhooks': { verify: { scheme: 'standard-webhooks', secretEnv: 'WH' }, signsBody: true },
  twilio: { verify: { scheme: 'twilio', secretEnv: 'S', publicUrl: PUBLIC_URL }, signsBody: true },
  zoom: { verify: { scheme: 'zoom', secretEnv: 'S' }, signsBody: true },
  hmac: {
    verify: {
      scheme: 'hmac',
      secretEnv: 'S',
      header: 'X-Sig',
      prefix: 'sha512=',
      algorithm: 'sha512',
      encoding: 'base64',
      timestampHeader: 'X-Ts',
      deliveryIdHeader: 'X-Id',
      template: '{id}:{timestamp}:{body}',
    },
    signsBody: true,
  },
  bearer: { verify: { scheme: 'bearer', secretEnv: 'S' }, signsBody: false },
  'google-oidc': { verify: { scheme: 'google-oidc', audience: 'https://relay.example.com/oidc', serviceAccounts: SA }, signsBody: false },
  none: { verify: { scheme: 'none' }, signsBody: false },
};

let metadata: MetadataServer;
beforeAll(async () => {
  metadata = await startMetadataServer({ serviceAccount: SA });
});
afterAll(() => metadata.close());

const idToken = async (audience: string) => {
  const res = await fetch(
    `${metadata.url}/computeMetadata/v1/instance/service-accounts/default/identity?audience=${encodeURIComponent(audience)}&format=full`,
    { headers: { 'metadata-flavor': 'Google' } },
  );
  return res.text();
};

async function signAndVerify(name: string, tamper: boolean) {
  const c = CASES[name]!;
  const verify = verifySchema.parse(c.verify);
  const now = Date.now();
  const sample = sampleBody(verify, 'test.event', now);
  const body = c.body === undefined ? sample.body : Buffer.from(c.body);
  const contentType = c.contentType ?? sample.contentType;
  const signed = await signRequest(verify, { body, contentType, eventType: 'test.event', now, secret: (n) => SECRETS[n]!, idToken });
  const verifier = createVerifier(verify, { secret: (n) => SECRETS[n]!, settings: { googleCertsUrl: metadata.pemCertsUrl } });
  const sent = tamper ? Buffer.concat([body.subarray(0, -1), Buffer.from(' }')]) : body;
  return verifier.verify({ headers: { ...signed.headers, 'content-type': contentType }, rawBody: sent, now, query: signed.query });
}

describe('run-relay send signs for every registered scheme', () => {
  it('has a case for every scheme in the registry', () => {
    expect(Object.keys(CASES).sort()).toEqual(SCHEMES.map((s) => s.scheme).sort());
  });

  it.each(SCHEMES.map((s) => s.scheme))('signs a body that the %s verifier accepts', async (name) => {
    await expect(signAndVerify(name, false)).resolves.toBeDefined();
  });

  it.each(Object.keys(CASES).filter((n) => CASES[n]!.signsBody))(
    'signs over the body, so the %s verifier refuses a changed byte',
    async (name) => {
      await expect(signAndVerify(name, true)).rejects.toMatchObject({ code: 'unauthorized' });
    },
  );

  it('signs a form body for Twilio over the public URL and sorted parameters, with no query', async () => {
    const verify = verifySchema.parse(CASES.twilio!.verify);
    const body = Buffer.from('To=%2B15550001111&From=%2B15552223333&Body=hello');
    const signed = await signRequest(verify, {
      body,
      contentType: 'application/x-www-form-urlencoded',
      now: Date.now(),
      secret: (n) => SECRETS[n]!,
      idToken,
    });
    expect(signed.query).toBe('');
    const verifier = createVerifier(verify, { secret: (n) => SECRETS[n]! });
    await expect(
      Promise.resolve().then(() =>
        verifier.verify({
          headers: { ...signed.headers, 'content-type': 'application/x-www-form-urlencoded' },
          rawBody: body,
          now: Date.now(),
          query: '',
        }),
      ),
    ).resolves.toBeDefined();
  });

  it('carries --event in the header of schemes that name the event there', async () => {
    const verify = verifySchema.parse({ scheme: 'github', secretEnv: 'S' });
    const signed = await signRequest(verify, {
      body: Buffer.from('{}'),
      contentType: 'application/json',
      eventType: 'push',
      now: 0,
      secret: () => 's',
      idToken,
    });
    expect(signed.headers['x-github-event']).toBe('push');
    const verified = await createVerifier(verify, { secret: () => 's' }).verify({
      headers: signed.headers,
      rawBody: Buffer.from('{}'),
      now: 0,
    });
    expect(verified.eventType).toBe('push');
  });

  it('presents --key for a bearer route that holds only consumer-key digests, and says what to pass without one', async () => {
    const verify = verifySchema.parse({ scheme: 'bearer', keys: [{ consumer: 'acme', sha256: 'a'.repeat(64) }] });
    const input = { body: Buffer.from('x'), contentType: 'text/plain', now: 0, secret: () => 's', idToken };
    await expect(signRequest(verify, input)).rejects.toThrow(SignError);
    await expect(signRequest(verify, input)).rejects.toThrow(/pass one with --key/);
    expect((await signRequest(verify, { ...input, key: 'rrk_abc' })).headers.authorization).toBe('Bearer rrk_abc');
  });

  it('refuses a Standard Webhooks route that accepts only Ed25519, which needs a private key', async () => {
    const verify = verifySchema.parse({ scheme: 'standard-webhooks', publicKeyEnv: 'PK' });
    await expect(
      signRequest(verify, { body: Buffer.from('{}'), contentType: 'application/json', now: 0, secret: () => 's', idToken }),
    ).rejects.toThrow(/private key/);
  });
});

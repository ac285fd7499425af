/**
 * google-oidc against tokens signed by the local metadata emulator's key, with
 * google-auth-library pointed at the emulator's PEM certificates.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMetadataServer, type MetadataServer } from '../emulators/metadata-server.js';
import { generateSigningKey, signJwt } from '../emulators/jwt.js';
import { outcome, verifierFor } from '../support/verifiers.js';
import type { Verifier } from '../../shared/verify/scheme.js';

const AUDIENCE = 'https://relay.example.com/scheduler';
const CALLER = 'scheduler@my-project.iam.gserviceaccount.com';
let metadata: MetadataServer;
let verifier: Verifier;

beforeAll(async () => {
  metadata = await startMetadataServer({ serviceAccount: CALLER });
  verifier = verifierFor(
    { scheme: 'google-oidc', audience: [AUDIENCE, 'https://other-audience'], serviceAccounts: CALLER },
    {},
    { googleCertsUrl: metadata.pemCertsUrl },
  );
});
afterAll(() => metadata.close());

const call = (token: string) => outcome(verifier, { headers: { authorization: `Bearer ${token}` }, rawBody: '{}' });

describe('google-oidc', () => {
  it('accepts a Google-signed token for the audience from an allowed service account, naming it as consumer', async () => {
    expect(await call(metadata.mint(AUDIENCE))).toMatchObject({ ok: true, consumer: CALLER });
  });

  it('fetches the certificates once and caches them across verifications', async () => {
    const before = metadata.certRequests();
    for (let i = 0; i < 5; i++) expect((await call(metadata.mint(AUDIENCE))).ok).toBe(true);
    expect(metadata.certRequests() - before).toBe(0);
  });

  it('refuses a token for another audience', async () => {
    expect(await call(metadata.mint('https://evil.example.com'))).toMatchObject({
      ok: false,
      status: 401,
      code: 'unauthorized',
      message: 'ID token refused: wrong audience',
    });
  });

  it('refuses a token from a service account not on the allowlist', async () => {
    expect(await call(metadata.mint(AUDIENCE, { email: 'intruder@my-project.iam.gserviceaccount.com' }))).toMatchObject({
      ok: false,
      status: 401,
      message: expect.stringContaining('not an allowed service account'),
    });
  });

  it('refuses a token whose email is not verified', async () => {
    expect(await call(metadata.mint(AUDIENCE, { email_verified: false }))).toMatchObject({ ok: false, status: 401 });
  });

  it('refuses an expired token with credential_expired', async () => {
    const past = Math.floor(Date.now() / 1000) - 7200;
    expect(await call(metadata.mint(AUDIENCE, { iat: past, exp: past + 3600 }))).toMatchObject({
      ok: false,
      status: 401,
      code: 'credential_expired',
    });
  });

  it('refuses a token signed by a key Google did not publish', async () => {
    const now = Math.floor(Date.now() / 1000);
    const forged = signJwt(generateSigningKey(), {
      iss: 'https://accounts.google.com',
      aud: AUDIENCE,
      email: CALLER,
      email_verified: true,
      iat: now,
      exp: now + 600,
    });
    expect(await call(forged)).toMatchObject({ ok: false, status: 401, code: 'unauthorized' });
  });

  it('refuses a token from another issuer', async () => {
    expect(await call(metadata.mint(AUDIENCE, { iss: 'https://evil.example.com' }))).toMatchObject({
      ok: false,
      status: 401,
      message: 'ID token refused: wrong issuer',
    });
  });

  it('refuses a missing or non-JWT Authorization header', async () => {
    expect(await outcome(verifier, { headers: {}, rawBody: '' })).toMatchObject({ ok: false, status: 401 });
    expect(await outcome(verifier, { headers: { authorization: 'Bearer not-a-jwt' }, rawBody: '' })).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it('answers 503 when the certificates cannot be fetched, so the caller retries', async () => {
    const offline = verifierFor(
      { scheme: 'google-oidc', audience: AUDIENCE, serviceAccounts: CALLER },
      {},
      { googleCertsUrl: 'http://127.0.0.1:9/certs' },
    );
    expect(await outcome(offline, { headers: { authorization: `Bearer ${metadata.mint(AUDIENCE)}` }, rawBody: '' })).toMatchObject({
      ok: false,
      status: 503,
      code: 'unavailable',
    });
  });
});

import { describe, expect, it } from 'vitest';
import { generateIdToken } from '../../shared/identity/generate-id-token.js';
import { IdentityError } from '../../shared/identity/identity-error.js';

const SA = 'relay@p.iam.gserviceaccount.com';
const answer =
  (status: number, body: unknown): typeof fetch =>
  async () =>
    new Response(JSON.stringify(body), { status });
const call = (fetchImpl: typeof fetch) =>
  generateIdToken({
    endpoint: 'http://iam.test',
    serviceAccount: SA,
    audience: 'https://svc',
    accessToken: 'ya29.secret-access-token',
    caller: 'the caller',
    fetch: fetchImpl,
  });

describe('generateIdToken', () => {
  it('posts the audience and delegates with the access token and returns the token', async () => {
    let seen: { url: string; init: RequestInit } | undefined;
    const token = await generateIdToken({
      endpoint: 'http://iam.test/',
      serviceAccount: SA,
      audience: 'https://svc',
      accessToken: 'ya29.a',
      delegates: ['mid@p.iam.gserviceaccount.com'],
      caller: 'c',
      fetch: async (url, init) => {
        seen = { url: String(url), init: init! };
        return new Response(JSON.stringify({ token: 'eyJ.id.token' }));
      },
    });
    expect(token).toBe('eyJ.id.token');
    expect(seen!.url).toBe(`http://iam.test/v1/projects/-/serviceAccounts/${encodeURIComponent(SA)}:generateIdToken`);
    expect((seen!.init.headers as Record<string, string>).authorization).toBe('Bearer ya29.a');
    expect(JSON.parse(String(seen!.init.body))).toEqual({
      audience: 'https://svc',
      delegates: ['projects/-/serviceAccounts/mid@p.iam.gserviceaccount.com'],
      includeEmail: true,
    });
  });

  it.each([
    [
      403,
      { error: { message: 'Permission denied' } },
      false,
      /the caller may not mint ID tokens for relay@.*lacks iam\.serviceAccounts\.getOpenIdToken .*roles\/iam\.serviceAccountOpenIdTokenCreator.*Permission denied/,
    ],
    [401, { error: { message: 'bad creds' } }, false, /refused the access token of the caller \(401\)/],
    [404, {}, false, /does not know the service account relay@/],
    [503, { error: { message: 'backend' } }, true, /answered 503 to generateIdToken/],
    [429, {}, true, /answered 429/],
    [200, { nope: true }, true, /answered without a token/],
  ])('maps HTTP %i to a %s-retryable error', async (status, body, retryable, message) => {
    const error = await call(answer(status, body)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdentityError);
    expect((error as IdentityError).retryable).toBe(retryable);
    expect((error as IdentityError).message).toMatch(message);
    expect((error as IdentityError).message).not.toContain('ya29.secret-access-token');
  });

  it('reports an unreachable endpoint as retryable, naming it', async () => {
    const error = await call(async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    }).catch((e: unknown) => e);
    expect((error as IdentityError).retryable).toBe(true);
    expect((error as IdentityError).message).toMatch(/IAM Credentials at http:\/\/iam\.test could not be reached \(ECONNREFUSED\)/);
  });
});

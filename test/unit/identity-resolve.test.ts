import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config/load.js';
import { parseImpersonationUrl } from '../../shared/identity/external-account.js';
import { IdentityError } from '../../shared/identity/identity-error.js';
import { findCredentialsFile, resolveTokenSource, wellKnownAdcFile } from '../../shared/identity/resolve.js';

const SA = 'relay@p.iam.gserviceaccount.com';
const files: Record<string, unknown> = {
  '/k/key.json': { type: 'service_account', client_email: SA, private_key: '-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n' },
  '/k/no-key.json': { type: 'service_account', client_email: SA },
  '/k/user.json': { type: 'authorized_user', client_id: 'c', client_secret: 's', refresh_token: 'r' },
  '/k/gdch.json': { type: 'gdch_service_account' },
  '/k/untyped.json': { client_email: SA },
  '/k/federated.json': {
    type: 'external_account',
    audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x',
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: 'https://sts.googleapis.com/v1/token',
    service_account_impersonation_url: `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`,
    credential_source: { file: '/var/run/token' },
  },
  '/k/federated-no-sa.json': {
    type: 'external_account',
    audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x',
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    credential_source: { file: '/var/run/token' },
  },
  '/k/impersonated.json': {
    type: 'impersonated_service_account',
    service_account_impersonation_url: `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`,
    delegates: ['projects/-/serviceAccounts/middle@p.iam.gserviceaccount.com'],
    source_credentials: { type: 'authorized_user', client_id: 'c', client_secret: 's', refresh_token: 'r' },
  },
};
const readFile = (path: string) => {
  if (path === '/k/not-json.json') return '{nope';
  if (!(path in files)) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return JSON.stringify(files[path]);
};
const resolve = (credentialsFile: string, impersonate?: string) =>
  resolveTokenSource({ credentialsFile, impersonate }, { env: {}, readFile });

describe('resolveTokenSource', () => {
  it.each([
    ['/k/key.json', undefined, `service account key /k/key.json (${SA})`],
    [
      '/k/key.json',
      'other@p.iam.gserviceaccount.com',
      'service_account credential file /k/key.json (from identity.credentialsFile) impersonating other@p.iam.gserviceaccount.com',
    ],
    [
      '/k/user.json',
      'other@p.iam.gserviceaccount.com',
      'authorized_user credential file /k/user.json (from identity.credentialsFile) impersonating other@',
    ],
    [
      '/k/federated.json',
      undefined,
      `external_account credential /k/federated.json (federated principal of //iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x) -> ${SA}`,
    ],
    ['/k/federated-no-sa.json', 'chosen@p.iam.gserviceaccount.com', '-> chosen@p.iam.gserviceaccount.com'],
    ['/k/impersonated.json', undefined, `authorized_user source credentials of /k/impersonated.json impersonating ${SA}`],
  ])('describes %s (impersonate %s) as "%s"', (file, impersonate, description) => {
    expect(resolve(file, impersonate).describe!()).toContain(description);
  });

  it.each([
    ['/k/missing.json', /Cannot read the credential file \/k\/missing\.json \(from identity\.credentialsFile\): file not found/],
    ['/k/not-json.json', /\/k\/not-json\.json .* is not JSON/],
    ['/k/untyped.json', /has no "type"/],
    [
      '/k/gdch.json',
      /type "gdch_service_account" is not supported; expected service_account, external_account, impersonated_service_account or authorized_user/,
    ],
    ['/k/no-key.json', /service_account credential file \/k\/no-key\.json .* lacks private_key/],
    ['/k/user.json', /is a person's gcloud login, which cannot mint ID tokens for an audience of your choosing; set identity\.impersonate/],
    [
      '/k/federated-no-sa.json',
      /names no service account: a federated identity cannot hold ID tokens itself; add service_account_impersonation_url .* or set identity\.impersonate/,
    ],
  ])('refuses %s with a permanent error saying what it lacks', (file, message) => {
    let caught: unknown;
    try {
      resolve(file);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(IdentityError);
    expect((caught as IdentityError).message).toMatch(message);
    expect((caught as IdentityError).retryable).toBe(false);
    expect((caught as IdentityError).status).toBe(503);
  });

  it('uses the metadata server when no credential file is found', () => {
    expect(resolveTokenSource(undefined, { env: {}, exists: () => false }).describe!()).toMatch(/application default credentials/);
  });
});

describe('findCredentialsFile', () => {
  const env = { GOOGLE_APPLICATION_CREDENTIALS: '/env.json', HOME: '/home/u' };
  it('prefers the identity setting, then GOOGLE_APPLICATION_CREDENTIALS, then gcloud ADC, then nothing', () => {
    expect(findCredentialsFile({ credentialsFile: '/set.json' }, { env, exists: () => true })).toEqual({
      path: '/set.json',
      via: 'identity.credentialsFile',
    });
    expect(findCredentialsFile(undefined, { env, exists: () => true })).toEqual({
      path: '/env.json',
      via: 'GOOGLE_APPLICATION_CREDENTIALS',
    });
    expect(findCredentialsFile(undefined, { env: { HOME: '/home/u' }, exists: () => true })?.path).toBe(
      '/home/u/.config/gcloud/application_default_credentials.json',
    );
    expect(findCredentialsFile(undefined, { env: { HOME: '/home/u' }, exists: () => false })).toBeUndefined();
  });

  it('honours CLOUDSDK_CONFIG for the gcloud ADC file', () => {
    expect(wellKnownAdcFile({ CLOUDSDK_CONFIG: '/cfg' })).toBe('/cfg/application_default_credentials.json');
  });
});

describe('parseImpersonationUrl', () => {
  it.each([
    [
      `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`,
      { serviceAccount: SA, endpoint: 'https://iamcredentials.googleapis.com' },
    ],
    [
      `http://127.0.0.1:9/v1/projects/-/serviceAccounts/${encodeURIComponent(SA)}:generateAccessToken`,
      { serviceAccount: SA, endpoint: 'http://127.0.0.1:9' },
    ],
    ['https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/x:signJwt', undefined],
    ['not a url', undefined],
    [undefined, undefined],
  ])('reads %s as %j', (url, expected) => {
    expect(parseImpersonationUrl(url)).toEqual(expected);
  });
});

describe('the identity config key', () => {
  const base = (identity: unknown) => ({ targets: { svc: { url: 'https://svc.example.com', identity } } });
  it('accepts a credential file with impersonation and delegates', () => {
    const { config } = parseConfig(base({ credentialsFile: '/k.json', impersonate: SA, delegates: ['mid@p.iam.gserviceaccount.com'] }), {});
    expect(config.targets.svc!.identity).toEqual({
      credentialsFile: '/k.json',
      impersonate: SA,
      delegates: ['mid@p.iam.gserviceaccount.com'],
    });
  });

  it.each([
    [{ delegates: ['mid@p.iam.gserviceaccount.com'] }, 'targets.svc.identity.delegates: delegates need impersonate'],
    [{ impersonate: 'not-an-email' }, 'targets.svc.identity.impersonate: expected a service account email'],
    [{ keyFile: '/k.json' }, 'targets.svc.identity'],
    [{ iamCredentialsEndpoint: 'ftp://x' }, 'targets.svc.identity.iamCredentialsEndpoint: expected an http(s) URL'],
  ])('refuses %j naming the key', (identity, message) => {
    expect(() => parseConfig(base(identity), {})).toThrow(message);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type Runtime } from '../../functions/runtime.js';
import { ConfigError, parseConfig } from '../../shared/config/load.js';
import type { RelayResponse } from '../../shared/http.js';
import type { PrivateTarget } from '../emulators/private-target.js';
import {
  FEDERATED_SA,
  IMPERSONATED_SA,
  KEY_SA,
  PROVIDER_AUDIENCE,
  startIdentityStack,
  type IdentityStack,
} from '../support/identity-stack.js';

let stack: IdentityStack;
const savedEnv = { ...process.env };

beforeAll(async () => {
  stack = await startIdentityStack();
  // google-auth-library reads these from process.env itself.
  process.env.GCE_METADATA_HOST = stack.metadata.host;
  process.env.GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES = '1';
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  stack.iam.grant(IMPERSONATED_SA, stack.metadata.serviceAccount);
  stack.iam.grant(IMPERSONATED_SA, KEY_SA);
  stack.iam.grant(FEDERATED_SA, stack.principal);
});
afterAll(async () => {
  process.env = savedEnv;
  await stack.close();
});

interface Harness {
  runtime: Runtime;
  logs: string[];
  targets: PrivateTarget[];
  send(): Promise<RelayResponse>;
}

/** A relay whose one route fans out to `count` targets (distinct audiences) sharing `identity`. */
async function relayWith(
  identity: Record<string, unknown> | undefined,
  count = 2,
  retry = { retries: 3, minDelayMs: 10, maxDelayMs: 50 },
): Promise<Harness> {
  const targets = await Promise.all(Array.from({ length: count }, () => stack.target()));
  const targetConfigs = Object.fromEntries(targets.map((t, i) => [`t${i}`, { url: t.url, retry, ...(identity ? { identity } : {}) }]));
  const loaded = parseConfig(
    { targets: targetConfigs, routes: { in: { verify: { scheme: 'none' }, forward: targets.map((_, i) => ({ target: `t${i}` })) } } },
    {},
  );
  const logs: string[] = [];
  const runtime = createRuntime({ loaded, write: (line) => logs.push(line), identity: { env: {}, tokenEndpoint: stack.oauth.url } });
  const send = () =>
    runtime.relay.handle({
      method: 'POST',
      path: '/in',
      query: '',
      headers: { 'content-type': 'application/json' },
      rawBody: Buffer.from('{"ok":true}'),
    });
  return { runtime, logs, targets, send };
}

const CASES: {
  name: string;
  email: () => string;
  identity: () => Record<string, unknown> | undefined;
  upstream: () => Map<string, number>;
}[] = [
  {
    name: 'the metadata server (ADC)',
    email: () => stack.metadata.serviceAccount,
    identity: () => undefined,
    upstream: () => stack.metadata.identityRequests,
  },
  {
    name: 'a service account key file',
    email: () => KEY_SA,
    identity: () => ({ credentialsFile: stack.keyFile() }),
    upstream: () => stack.oauth.idTokenRequests,
  },
  {
    name: 'the metadata server impersonating a service account',
    email: () => IMPERSONATED_SA,
    identity: () => ({ impersonate: IMPERSONATED_SA, iamCredentialsEndpoint: stack.iam.url }),
    upstream: () => stack.iam.idTokenRequests,
  },
  {
    name: 'a key file impersonating a service account',
    email: () => IMPERSONATED_SA,
    identity: () => ({ credentialsFile: stack.keyFile(), impersonate: IMPERSONATED_SA, iamCredentialsEndpoint: stack.iam.url }),
    upstream: () => stack.iam.idTokenRequests,
  },
  {
    name: 'federation with a subject token from a file',
    email: () => FEDERATED_SA,
    identity: () => ({ credentialsFile: stack.externalAccountFile({ source: 'file' }) }),
    upstream: () => stack.iam.idTokenRequests,
  },
  {
    name: 'federation with a subject token from a URL',
    email: () => FEDERATED_SA,
    identity: () => ({ credentialsFile: stack.externalAccountFile({ source: 'url' }) }),
    upstream: () => stack.iam.idTokenRequests,
  },
  {
    name: 'federation with a subject token from an executable',
    email: () => FEDERATED_SA,
    identity: () => ({ credentialsFile: stack.externalAccountFile({ source: 'executable' }) }),
    upstream: () => stack.iam.idTokenRequests,
  },
];

describe('every credential type yields ID tokens the token-verifying target accepts', () => {
  it.each(CASES)(
    'delivers 100 concurrent requests to two audiences with $name, fetching one token per audience',
    async ({ email, identity, upstream }) => {
      const h = await relayWith(identity());
      const stsBefore = stack.sts.exchanges.get('ok') ?? 0;
      const responses = await Promise.all(Array.from({ length: 100 }, () => h.send()));
      expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
      for (const target of h.targets) {
        expect(target.rejected).toHaveLength(0);
        expect(target.received).toHaveLength(100);
        expect(target.received[0]!.claims.email).toBe(email());
        expect(target.received[0]!.claims.aud).toBe(target.url);
        // The cache holds: the credential's token service was asked once per audience.
        expect(upstream().get(target.url)).toBe(1);
        expect(h.runtime.tokens.fetchCounts.get(target.url)).toBe(1);
      }
      // Federation exchanges the subject token at most once for both audiences (the federated token is reused).
      expect((stack.sts.exchanges.get('ok') ?? 0) - stsBefore).toBeLessThanOrEqual(1);
      // No token ever reaches a log line.
      const everyToken = [...stack.iam.issued, ...stack.oauth.issued, ...stack.metadata.issued];
      for (const line of h.logs) for (const token of everyToken) expect(line).not.toContain(token);
    },
  );
});

describe('identity failures give a clear error and no retry storm', () => {
  it('refuses an expired subject token at STS once, answers 503 token_unavailable, and logs why', async () => {
    const expired = stack.idp.mint({ audience: `https:${PROVIDER_AUDIENCE}`, ttlSeconds: -120 });
    const h = await relayWith({ credentialsFile: stack.externalAccountFile({ subjectToken: expired }) }, 1);
    const before = stack.sts.exchanges.get('invalid_grant') ?? 0;
    const response = await h.send();
    expect(response.status).toBe(503);
    const body = JSON.parse(String(response.body));
    expect(body.error.code).toBe('token_unavailable');
    // The sender learns nothing about the relay's credentials.
    expect(body.error.message).not.toMatch(/external|\.json|STS/);
    expect((stack.sts.exchanges.get('invalid_grant') ?? 0) - before).toBe(1);
    expect(h.logs.join('\n')).toMatch(/external_account credential .*external-\d+\.json.*invalid_grant.*token expired/);
    expect(h.targets[0]!.received).toHaveLength(0);
  });

  it('refuses a subject token minted for another audience at STS, once', async () => {
    const wrong = stack.idp.mint({ audience: 'https://example.com/some-other-pool' });
    const h = await relayWith({ credentialsFile: stack.externalAccountFile({ subjectToken: wrong }) }, 1);
    const before = stack.sts.exchanges.get('invalid_grant') ?? 0;
    expect((await h.send()).status).toBe(503);
    expect((stack.sts.exchanges.get('invalid_grant') ?? 0) - before).toBe(1);
    expect(h.logs.join('\n')).toMatch(/invalid_grant.*wrong audience https:\/\/example\.com\/some-other-pool/);
  });

  it('says the federated principal lacks getOpenIdToken when the service account grants it nothing, asking IAM once', async () => {
    const h = await relayWith(
      {
        credentialsFile: stack.externalAccountFile(),
        impersonate: 'no-grant@local-project.iam.gserviceaccount.com',
        iamCredentialsEndpoint: stack.iam.url,
      },
      1,
    );
    const before = stack.iam.refused.get('permission_denied') ?? 0;
    expect((await h.send()).status).toBe(503);
    expect((stack.iam.refused.get('permission_denied') ?? 0) - before).toBe(1);
    expect(h.logs.join('\n')).toMatch(/lacks iam\.serviceAccounts\.getOpenIdToken on that service account/);
  });

  it('says an impersonating metadata identity lacks the grant, asking IAM once', async () => {
    const h = await relayWith(
      { impersonate: 'no-grant-2@local-project.iam.gserviceaccount.com', iamCredentialsEndpoint: stack.iam.url },
      1,
    );
    const before = stack.iam.refused.get('permission_denied') ?? 0;
    expect((await h.send()).status).toBe(503);
    expect((stack.iam.refused.get('permission_denied') ?? 0) - before).toBe(1);
    expect(h.logs.join('\n')).toMatch(/metadata server may not mint ID tokens for no-grant-2@/);
  });

  it('reports an unreachable STS as unreachable within a bounded time', async () => {
    const closed = await stack.target();
    const deadUrl = `${closed.url}/v1/token`;
    await closed.close();
    const h = await relayWith({ credentialsFile: stack.externalAccountFile({ tokenUrl: deadUrl }) }, 1, {
      retries: 2,
      minDelayMs: 10,
      maxDelayMs: 20,
    });
    const started = performance.now();
    const response = await h.send();
    const elapsed = performance.now() - started;
    expect(response.status).toBe(503);
    expect(h.logs.join('\n')).toMatch(
      /Federated token exchange .* failed for external_account credential .*endpoint unreachable \(ECONNREFUSED\)/,
    );
    expect(elapsed).toBeLessThan(10_000);
  });

  it('bounds the requests to an STS that keeps answering 503: library retries times relay attempts, nothing more', async () => {
    const h = await relayWith({ credentialsFile: stack.externalAccountFile() }, 1, { retries: 2, minDelayMs: 10, maxDelayMs: 20 });
    stack.sts.failNext(1_000, 503);
    const before = stack.sts.exchanges.get('temporarily_unavailable') ?? 0;
    try {
      expect((await h.send()).status).toBe(503);
    } finally {
      stack.sts.failNext(0);
    }
    const calls = (stack.sts.exchanges.get('temporarily_unavailable') ?? 0) - before;
    // 3 relay attempts (1 + 2 retries), each a single-flight fetch the library retries at most 3 times.
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(calls).toBeLessThanOrEqual(12);
  });

  it('refuses to start when a target names a credential file that does not exist, naming the key', () => {
    const loaded = parseConfig(
      { targets: { svc: { url: 'https://svc.example.com', identity: { credentialsFile: '/nonexistent/key.json' } } } },
      {},
    );
    expect(() => createRuntime({ loaded, write: () => {} })).toThrow(ConfigError);
    expect(() => createRuntime({ loaded, write: () => {} })).toThrow(
      /targets\.svc\.identity: Cannot read the credential file \/nonexistent\/key\.json \(from identity\.credentialsFile\): file not found/,
    );
  });
});

describe('per-target identities', () => {
  it('mints each target its own identity in one route', async () => {
    const [a, b] = await Promise.all([stack.target(), stack.target()]);
    const loaded = parseConfig(
      {
        targets: {
          a: { url: a!.url, identity: { credentialsFile: stack.keyFile() } },
          b: { url: b!.url, identity: { credentialsFile: stack.externalAccountFile() } },
        },
        routes: { in: { verify: { scheme: 'none' }, forward: [{ target: 'a' }, { target: 'b' }] } },
      },
      {},
    );
    const runtime = createRuntime({ loaded, write: () => {}, identity: { env: {}, tokenEndpoint: stack.oauth.url } });
    const response = await runtime.relay.handle({ method: 'POST', path: '/in', query: '', headers: {}, rawBody: Buffer.from('x') });
    expect(response.status).toBe(200);
    expect(a!.received[0]!.claims.email).toBe(KEY_SA);
    expect(b!.received[0]!.claims.email).toBe(FEDERATED_SA);
  });

  it('refuses two targets with one audience but different identities', () => {
    const loaded = parseConfig(
      {
        targets: {
          a: { url: 'https://svc.example.com/a', identity: { credentialsFile: stack.keyFile() } },
          b: { url: 'https://svc.example.com/b' },
        },
      },
      {},
    );
    expect(() => createRuntime({ loaded, write: () => {}, identity: { env: {} } })).toThrow(
      /targets\.b\.identity: target "a" has the same audience https:\/\/svc\.example\.com/,
    );
  });
});

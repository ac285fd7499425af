import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../shared/config/load.js';
import { RELAY_OWN_HEADERS } from '../../shared/forward/headers.js';
import { SIGNATURE_HEADERS } from '../../shared/verify/registry.js';

const root = resolve(import.meta.dirname, '../..');

function issuesOf(input: unknown, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(input, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected a ConfigError');
}

const goodTarget = { url: 'https://svc-abc-uc.a.run.app' };
const goodRoute = { verify: { scheme: 'none' }, forward: [{ target: 't' }] };

describe('config', () => {
  it('loads the example from the README as written, with its documented defaults', () => {
    const { config, secrets } = parseConfig(parse(readFileSync(resolve(root, 'relay.config.yaml'), 'utf8')), {
      GITHUB_WEBHOOK_SECRET: 's3cret',
    });
    expect(config.targets.orders).toEqual({
      url: 'https://orders-123456789012.us-central1.run.app',
      tokenHeader: 'authorization',
      timeoutMs: 10000,
      retry: { retries: 4, minDelayMs: 200, maxDelayMs: 5000 },
    });
    expect(config.routes.github).toEqual({
      verify: { scheme: 'github', secretEnv: ['GITHUB_WEBHOOK_SECRET'] },
      forward: [{ target: 'orders', path: '/hooks/github', method: 'POST' }],
      maxBodyBytes: 1024 * 1024,
      deadlineMs: 30000,
      forwardHeaders: [],
      acceptEncodings: [],
      mode: 'sync',
    });
    expect(secrets.get('GITHUB_WEBHOOK_SECRET')).toBe('s3cret');
  });

  it('reads JSON files by extension and RELAY_CONFIG relative to the working directory', () => {
    const loaded = loadConfig(
      { RELAY_CONFIG: 'deploy/local/relay.config.yaml', GITHUB_WEBHOOK_SECRET: 'a', PARTNER_BEARER_SECRET: 'b' },
      root,
    );
    expect(Object.keys(loaded.config.routes)).toEqual(['github', 'github-async', 'partner']);
    expect(Object.keys(loaded.config.schedules)).toEqual(['heartbeat']);
    expect(() => loadConfig({ RELAY_CONFIG: 'package.json' }, root)).toThrow(/targets: /);
  });

  it('says the file is missing and how to point at another one', () => {
    expect(() => loadConfig({ RELAY_CONFIG: 'nope.yaml' }, root)).toThrow(/file not found.*RELAY_CONFIG/);
  });

  it.each([
    [
      'plain http to a remote host',
      { t: { url: 'http://svc.example.com' } },
      'targets.t.url: expected https:// (http:// is accepted only for loopback hosts)',
    ],
    ['a URL with a query', { t: { url: 'https://svc.example.com/?a=1' } }, 'targets.t.url: expected a base URL without query or fragment'],
    ['not a URL', { t: { url: 'orders' } }, 'targets.t.url: expected an https:// URL'],
    ['an unknown token header', { t: { ...goodTarget, tokenHeader: 'x-token' } }, 'targets.t.tokenHeader'],
    ['negative retries', { t: { ...goodTarget, retry: { retries: -1 } } }, 'targets.t.retry.retries'],
    [
      'minDelayMs above maxDelayMs',
      { t: { ...goodTarget, retry: { minDelayMs: 900, maxDelayMs: 100 } } },
      'targets.t.retry.maxDelayMs: expected minDelayMs <= maxDelayMs',
    ],
    ['an unknown key', { t: { ...goodTarget, timeout: 5 } }, 'targets.t: Unrecognized key: "timeout"'],
    ['a failure rate above 1', { t: { ...goodTarget, circuit: { failureRate: 1.5 } } }, 'targets.t.circuit.failureRate'],
    ['an unknown circuit key', { t: { ...goodTarget, circuit: { threshold: 3 } } }, 'targets.t.circuit: Unrecognized key: "threshold"'],
    ['a zero concurrency cap', { t: { ...goodTarget, maxConcurrency: 0 } }, 'targets.t.maxConcurrency'],
    [
      'a store other than firestore',
      { t: { ...goodTarget, dedupe: { store: 'redis' } } },
      'targets.t.dedupe.store: expected `store: firestore`',
    ],
    [
      'a window that is not a duration',
      { t: { ...goodTarget, dedupe: { store: 'firestore', window: '1 day' } } },
      'targets.t.dedupe.window: expected a duration such as 90s, 30m, 24h or 7d',
    ],
  ])('rejects %s, naming the key path', (_name, targets, expected) => {
    expect(issuesOf({ targets, routes: {} }).join('\n')).toContain(expected);
  });

  it('accepts http:// for loopback hosts only', () => {
    for (const url of ['http://127.0.0.1:8080', 'http://localhost:1', 'http://[::1]:9']) {
      expect(() => parseConfig({ targets: { t: { url } } }, {})).not.toThrow();
    }
  });

  it('refuses a route without verify unless it says scheme none', () => {
    const issues = issuesOf({ targets: { t: goodTarget }, routes: { open: { forward: [{ target: 't' }] } } });
    expect(issues).toEqual([
      'routes.open.verify: expected a verify block; to accept unauthenticated requests say `verify: { scheme: none }` explicitly',
    ]);
    expect(() => parseConfig({ targets: { t: goodTarget }, routes: { open: goodRoute } }, {})).not.toThrow();
  });

  it('lists every problem at once: unknown scheme, unknown target, missing secrets', () => {
    expect(
      issuesOf({ targets: { t: goodTarget }, routes: { a: { verify: { scheme: 'gh' }, forward: [{ target: 't' }] }, healthz: goodRoute } }),
    ).toEqual([
      expect.stringMatching(/^routes\.a\.verify\.scheme: .*github.*bearer.*none/),
      'routes.healthz: the route name "healthz" is reserved',
    ]);
    expect(issuesOf({ targets: { t: goodTarget }, routes: { a: { ...goodRoute, forward: [{ target: 'nope' }] } } })).toEqual([
      'routes.a.forward[0].target: unknown target "nope"; expected one of: t',
    ]);
    expect(
      issuesOf(
        {
          targets: { t: goodTarget },
          routes: { a: { verify: { scheme: 'github', secretEnv: ['NEW', 'OLD'] }, forward: [{ target: 't' }] } },
        },
        { NEW: 'x' },
      ),
    ).toEqual([expect.stringContaining('routes.a.verify.secretEnv: environment variable OLD is not set')]);
  });

  it('names the key that references a missing variable', () => {
    const verify = { scheme: 'standard-webhooks', secretEnv: 'WH_SECRET', publicKeyEnv: ['WH_PUBLIC'] };
    expect(
      issuesOf({ targets: { t: goodTarget }, routes: { a: { verify, forward: [{ target: 't' }] } } }, { WH_SECRET: 'whsec_x' }),
    ).toEqual([expect.stringMatching(/^routes\.a\.verify\.publicKeyEnv: environment variable WH_PUBLIC is not set/)]);
  });

  it('refuses inline secrets: secretEnv must be an environment variable name', () => {
    expect(
      issuesOf({
        targets: { t: goodTarget },
        routes: { a: { verify: { scheme: 'bearer', secretEnv: 'my secret!' }, forward: [{ target: 't' }] } },
      }).join(),
    ).toContain('routes.a.verify.secretEnv');
  });
  it.each([
    [
      "the route's own signature header",
      { scheme: 'github', secretEnv: 'S' },
      'x-hub-signature-256',
      `"x-hub-signature-256" carries this route's github signature or credential, which is never forwarded`,
    ],
    [
      "an hmac route's configured signature header",
      { scheme: 'hmac', secretEnv: 'S', header: 'X-Sig' },
      'x-sig',
      `"x-sig" carries this route's hmac signature or credential`,
    ],
    [
      "another scheme's signature header",
      { scheme: 'none' },
      'stripe-signature',
      `"stripe-signature" carries the stripe scheme's signature or credential`,
    ],
    [
      'the Authorization a bearer route checks',
      { scheme: 'bearer', secretEnv: 'S' },
      'authorization',
      `"authorization" carries this route's bearer signature or credential`,
    ],
    ['the consumer header the relay sets', { scheme: 'none' }, 'x-relay-consumer', '"x-relay-consumer" is set by the relay itself'],
    ['the idempotency key the relay sets', { scheme: 'none' }, 'idempotency-key', '"idempotency-key" is set by the relay itself'],
    [
      'the token header the relay sets',
      { scheme: 'none' },
      'x-serverless-authorization',
      '"x-serverless-authorization" is set by the relay itself',
    ],
  ])('refuses %s in forwardHeaders, naming the key path', (_name, verify, header, expected) => {
    const routes = { a: { verify, forward: [{ target: 't' }], forwardHeaders: ['x-fine', header] } };
    const issues = issuesOf({ targets: { t: goodTarget }, routes }, { S: 'x' });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toContain(`routes.a.forwardHeaders[1]: ${expected}`);
  });

  it('refuses every signature header any registered scheme declares, and accepts other sender headers', () => {
    for (const [header] of SIGNATURE_HEADERS) {
      expect(issuesOf({ targets: { t: goodTarget }, routes: { a: { ...goodRoute, forwardHeaders: [header] } } })).toEqual([
        expect.stringMatching(/^routes\.a\.forwardHeaders\[0\]: /),
      ]);
    }
    for (const header of RELAY_OWN_HEADERS) {
      expect(issuesOf({ targets: { t: goodTarget }, routes: { a: { ...goodRoute, forwardHeaders: [header] } } })).toHaveLength(1);
    }
    const { config } = parseConfig({
      targets: { t: goodTarget },
      routes: { a: { ...goodRoute, forwardHeaders: ['x-github-event', 'x-request-id'] } },
    });
    expect(config.routes.a!.forwardHeaders).toEqual(['x-github-event', 'x-request-id']);
  });
});

/**
 * The front door end to end, through the real Functions Framework server:
 * replays answered as duplicates without losing failed deliveries, payload
 * contracts, event filters, sender challenges, consumer keys and Google OIDC.
 */
import { createHmac } from 'node:crypto';
import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MetadataServer } from '../emulators/metadata-server.js';
import { echo } from '../emulators/private-target.js';
import { githubSignature } from '../support/sign.js';
import { startStack, useMetadataServer, type Stack } from '../support/stack.js';
import { keyDigest } from '../../shared/verify/consumer-keys.js';

const env = { STRIPE_SECRET: 'whsec_integration', GITHUB_SECRET: 'gh-integration-secret', SLACK_SECRET: 'slack-integration-secret' };
const stripeClient = new Stripe('sk_test_unused');
let metadata: MetadataServer;
let stack: Stack | undefined;

beforeAll(async () => {
  metadata = await useMetadataServer();
});
afterAll(() => metadata.close());
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function start(routes: Record<string, unknown>, behaviour = echo) {
  stack = await startStack({
    metadata,
    env,
    settings: { googleCertsUrl: metadata.pemCertsUrl },
    targets: { svc: { behaviour, config: { retry: { retries: 0, minDelayMs: 0, maxDelayMs: 0 } } } },
    routes,
  });
  return stack;
}

function postStripe(s: Stack, body: string) {
  const header = stripeClient.webhooks.generateTestHeaderString({ payload: body, secret: env.STRIPE_SECRET });
  return fetch(`${s.url}/stripe`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'stripe-signature': header } });
}

function postGithub(s: Stack, body: string, event: string, delivery = 'd-1') {
  return fetch(`${s.url}/github`, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-github-delivery': delivery,
      'x-hub-signature-256': githubSignature(env.GITHUB_SECRET, body),
    },
  });
}

const stripeRoute = { verify: { scheme: 'stripe', secretEnv: 'STRIPE_SECRET' }, forward: [{ target: 'svc', path: '/stripe' }] };

describe('replay protection', () => {
  it('answers a replayed Stripe event 200 as a duplicate without forwarding it again, keyed by the event id', async () => {
    const s = await start({ stripe: stripeRoute });
    const body = '{"id":"evt_replayed","type":"invoice.paid"}';
    expect((await postStripe(s, body)).status).toBe(200);
    const again = await postStripe(s, body);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ duplicate: true, deliveryId: 'evt_replayed' });
    expect(s.targets.svc!.received).toHaveLength(1);
    expect(s.targets.svc!.received[0]!.headers['idempotency-key']).toBe('evt_replayed');
  });

  it('forwards a retry of a delivery that failed the first time, so no event is lost', async () => {
    const s = await start({ stripe: stripeRoute }, (req, res, n) => (n === 1 ? void res.writeHead(500).end('down') : echo(req, res, n)));
    const body = '{"id":"evt_retry","type":"invoice.paid"}';
    expect((await postStripe(s, body)).status).toBe(500);
    expect((await postStripe(s, body)).status).toBe(200);
    expect(s.targets.svc!.received).toHaveLength(2);
  });

  it("answers Slack's retry of an event (new timestamp, X-Slack-Retry-Num) as a duplicate", async () => {
    const s = await start({ slack: { verify: { scheme: 'slack', secretEnv: 'SLACK_SECRET' }, forward: [{ target: 'svc' }] } });
    const body = '{"type":"event_callback","event_id":"Ev0RETRY","event":{"type":"message"}}';
    const post = (ts: number, extra: Record<string, string> = {}) =>
      fetch(`${s.url}/slack`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          'x-slack-request-timestamp': String(ts),
          'x-slack-signature': 'v0=' + createHmac('sha256', env.SLACK_SECRET).update(`v0:${ts}:${body}`).digest('hex'),
          ...extra,
        },
      });
    const now = Math.floor(Date.now() / 1000);
    expect((await post(now)).status).toBe(200);
    const retry = await post(now + 3, { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' });
    expect(retry.status).toBe(200);
    expect(await retry.json()).toEqual({ duplicate: true, deliveryId: 'Ev0RETRY' });
    expect(s.targets.svc!.received).toHaveLength(1);
  });

  it('forwards concurrent copies of one delivery once', async () => {
    const s = await start({ stripe: stripeRoute }, async (req, res, n) => {
      await new Promise((r) => setTimeout(r, 100));
      echo(req, res, n);
    });
    const body = '{"id":"evt_concurrent","type":"invoice.paid"}';
    const statuses = await Promise.all(Array.from({ length: 5 }, () => postStripe(s, body).then((r) => r.status)));
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expect(s.targets.svc!.received).toHaveLength(1);
  });
});

describe('payload contracts and event filters', () => {
  const githubRoute = {
    verify: { scheme: 'github', secretEnv: 'GITHUB_SECRET' },
    forward: [{ target: 'svc' }],
    events: ['push', 'issues'],
    contract: { events: { push: { type: 'object', required: ['ref'], properties: { ref: { type: 'string' } } } } },
  };

  it('answers 422 listing the issues for a signed body that breaks the contract, forwarding nothing', async () => {
    const s = await start({ github: githubRoute });
    const res = await postGithub(s, '{"ref":42}', 'push');
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      error: { code: 'contract_violation', message: expect.any(String), issues: [{ path: '$.ref', message: expect.any(String) }] },
    });
    expect(s.targets.svc!.received).toHaveLength(0);
  });

  it('forwards a body that fits, and an allowed event without a schema', async () => {
    const s = await start({ github: githubRoute });
    expect((await postGithub(s, '{"ref":"refs/heads/main"}', 'push', 'd-a')).status).toBe(200);
    expect((await postGithub(s, '{"anything":1}', 'issues', 'd-b')).status).toBe(200);
    expect(s.targets.svc!.received).toHaveLength(2);
  });

  it('answers 200 and drops an event the route does not forward, with a log line', async () => {
    const s = await start({ github: githubRoute });
    const res = await postGithub(s, '{}', 'star');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ dropped: true, eventType: 'star' });
    expect(s.targets.svc!.received).toHaveLength(0);
    expect(s.logs.some((l) => l.includes('Event dropped') && l.includes('"star"'))).toBe(true);
  });

  it('checks the signature before the contract: an unsigned bad body is a 401, not a 422', async () => {
    const s = await start({ github: githubRoute });
    const res = await fetch(`${s.url}/github`, {
      method: 'POST',
      body: '{"ref":42}',
      headers: { 'content-type': 'application/json', 'x-github-event': 'push' },
    });
    expect(res.status).toBe(401);
  });
});

describe('challenges and callers', () => {
  it("answers Slack's url_verification itself and forwards nothing", async () => {
    const s = await start({ slack: { verify: { scheme: 'slack', secretEnv: 'SLACK_SECRET' }, forward: [{ target: 'svc' }] } });
    const body = '{"type":"url_verification","challenge":"abc123"}';
    const ts = String(Math.floor(Date.now() / 1000));
    const res = await fetch(`${s.url}/slack`, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'x-slack-request-timestamp': ts,
        'x-slack-signature': 'v0=' + createHmac('sha256', env.SLACK_SECRET).update(`v0:${ts}:${body}`).digest('hex'),
      },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ challenge: 'abc123' });
    expect(s.targets.svc!.received).toHaveLength(0);
  });

  it('forwards the consumer name of a matched key, never the key, and never a sender-supplied consumer header', async () => {
    const keys = [{ consumer: 'acme', sha256: keyDigest('rrk_acme_key').toString('hex') }];
    const s = await start({ partner: { verify: { scheme: 'bearer', keys }, forward: [{ target: 'svc' }] } });
    const res = await fetch(`${s.url}/partner`, {
      method: 'POST',
      body: '{}',
      headers: { authorization: 'Bearer rrk_acme_key', 'x-relay-consumer': 'admin', 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    const [received] = s.targets.svc!.received;
    expect(received!.headers['x-relay-consumer']).toBe('acme');
    expect(JSON.stringify(received!.headers)).not.toContain('rrk_acme_key');
    expect(s.logs.join('\n')).not.toContain('rrk_acme_key');
  });

  it('accepts a Google ID token from an allowed service account and forwards its email as the consumer', async () => {
    // The certificates URL reaches the verifier as a setting, not through the process's environment.
    const s = await start({
      scheduler: {
        verify: { scheme: 'google-oidc', audience: 'https://relay.example.com/scheduler', serviceAccounts: [metadata.serviceAccount] },
        forward: [{ target: 'svc' }],
      },
    });
    const ok = await fetch(`${s.url}/scheduler`, {
      method: 'POST',
      body: '{}',
      headers: { authorization: `Bearer ${metadata.mint('https://relay.example.com/scheduler')}` },
    });
    expect(ok.status).toBe(200);
    expect(s.targets.svc!.received[0]!.headers['x-relay-consumer']).toBe(metadata.serviceAccount);
    const wrong = await fetch(`${s.url}/scheduler`, {
      method: 'POST',
      body: '{}',
      headers: { authorization: `Bearer ${metadata.mint('https://elsewhere.example.com')}` },
    });
    expect(wrong.status).toBe(401);
    expect(s.targets.svc!.received).toHaveLength(1);
  });
});

describe('refusals in the log', () => {
  it('logs which check failed with the error code and reason, never the expected signature', async () => {
    const s = await start({ github: { verify: { scheme: 'github', secretEnv: 'GITHUB_SECRET' }, forward: [{ target: 'svc' }] } });
    const body = '{"a":1}';
    const res = await fetch(`${s.url}/github`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=' + '0'.repeat(64) },
    });
    expect(res.status).toBe(401);
    const line = JSON.parse(s.logs.find((l) => l.includes('Request refused'))!);
    expect(line).toMatchObject({ reason: 'signature_mismatch', error: { code: 'unauthorized' } });
    expect(s.logs.join('\n')).not.toContain(githubSignature(env.GITHUB_SECRET, body).slice(7));
  });
});

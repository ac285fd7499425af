import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config/load.js';
import { createLogger } from '../../shared/log.js';
import { createRelay } from '../../shared/relay.js';
import { createTokenCache } from '../../shared/identity/token-cache.js';
import { maskHeaders, MASKED_ID_TOKEN } from '../../shared/traffic.js';
import { createTrafficModel } from '../../deploy/local/inspector/model.js';
import { signAgain } from '../../deploy/local/inspector/send-again.js';
import { listen } from '../emulators/http-util.js';

const line = (fields: Record<string, unknown>) => JSON.stringify({ severity: 'INFO', time: '2026-01-01T00:00:00.000Z', ...fields });
const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('the inspector model (log lines in, requests and deliveries out)', () => {
  it('joins an async request to its Pub/Sub delivery through the per-target idempotency key, across a dead letter and its replay', () => {
    const model = createTrafficModel();
    model.ingest(line({ message: 'Accepted for async delivery', route: 'gh', idempotencyKey: 'd-1', deliveries: 1 }));
    model.ingest(line({ message: 'Request answered', route: 'gh', idempotencyKey: 'd-1', method: 'POST', status: 202, latencyMs: 9 }));
    model.ingest(
      line({
        message: 'Message dead-lettered',
        messageId: '7',
        target: 'svc',
        idempotencyKey: 'd-1:svc',
        reason: 'target_rejected',
        detail: 'Target svc answered 422',
        status: 422,
        attempts: 1,
      }),
    );
    expect(model.snapshot().requests[0]!.deliveries[0]).toMatchObject({ via: 'pubsub', state: 'dead-lettered', status: 422, attempts: 1 });
    model.ingest(
      line({
        message: 'Delivered to target',
        messageId: '9',
        target: 'svc',
        idempotencyKey: 'd-1:svc',
        status: 200,
        attempts: 1,
        latencyMs: 4,
      }),
    );
    const { requests, other } = model.snapshot();
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ route: 'gh', verdict: 'accepted', status: 202, idempotencyKey: 'd-1' });
    expect(requests[0]!.deliveries).toHaveLength(1);
    expect(requests[0]!.deliveries[0]).toMatchObject({ state: 'delivered', status: 200, attempts: 2, latencyMs: 4 });
    expect(requests[0]!.deliveries[0]!.failures.map((f) => f.reason)).toEqual(['dead-lettered (target_rejected: Target svc answered 422)']);
    expect(other).toEqual([]);
  });

  it.each([
    [
      'refused',
      [
        line({
          message: 'Request refused',
          route: 'gh',
          reason: 'signature_mismatch',
          status: 401,
          error: { code: 'unauthorized', message: 'Signature does not match' },
        }),
      ],
      401,
    ],
    ['duplicate', [line({ message: 'Duplicate delivery answered without forwarding', route: 'gh', deliveryId: 'd-1' })], 200],
    ['dropped', [line({ message: "Event dropped: not in this route's events list", route: 'gh', eventType: 'ping' })], 200],
    ['challenge', [line({ message: "Answered the sender's challenge", route: 'gh' })], 200],
  ])('names the verdict "%s" from the line before "Request answered"', (verdict, before, status) => {
    const model = createTrafficModel();
    for (const l of before) model.ingest(l);
    model.ingest(line({ message: 'Request answered', route: 'gh', method: 'POST', status }));
    expect(model.snapshot().requests[0]).toMatchObject({ verdict, status, deliveries: [] });
  });

  it('counts failed attempts of a synchronous delivery and lists deliveries no request names (schedules) on their own', () => {
    const model = createTrafficModel();
    model.ingest(line({ message: 'Target attempt failed', route: 'gh', target: 'svc', idempotencyKey: 'k', attempt: 1, status: 503 }));
    model.ingest(
      line({
        message: 'Request answered',
        route: 'gh',
        method: 'POST',
        status: 200,
        target: 'svc',
        targetStatus: 200,
        attempts: 2,
        idempotencyKey: 'k',
        targetLatencyMs: 30,
      }),
    );
    model.ingest(
      line({
        message: 'Delivered to target',
        messageId: '3',
        target: 'svc',
        idempotencyKey: 'schedule:beat:svc',
        status: 200,
        attempts: 1,
      }),
    );
    const { requests, other } = model.snapshot();
    expect(requests[0]!.deliveries[0]).toMatchObject({
      via: 'relay',
      state: 'delivered',
      attempts: 2,
      latencyMs: 30,
      failures: [{ attempt: 1, status: 503 }],
    });
    expect(other.map((d) => d.idempotencyKey)).toEqual(['schedule:beat:svc']);
  });

  it('keeps a request whole for "send again", masks credentials again on the way in, and ignores lines that are not JSON', () => {
    const model = createTrafficModel();
    expect(model.ingest('Serving function...')).toBe(false);
    model.ingest(
      line({
        message: 'Request answered',
        route: 'p',
        method: 'POST',
        status: 200,
        request: {
          headers: { authorization: 'Bearer raw-secret', 'content-type': 'text/plain' },
          query: '?a=1',
          bytes: 5,
          bodyBase64: b64('hello'),
        },
      }),
    );
    const [r] = model.snapshot().requests;
    expect(r!.headers).toEqual({ authorization: 'Bearer [masked]', 'content-type': 'text/plain' });
    expect(r!.bodyPreview).toBe('hello');
    expect(model.stored(r!.id)).toMatchObject({ route: 'p', query: '?a=1', body: Buffer.from('hello') });
  });
});

describe('masking and re-signing', () => {
  it('masks credential headers, keeping the auth scheme, and leaves the masked ID token as it is', () => {
    expect(
      maskHeaders({ authorization: 'Bearer abc', cookie: 's=1', 'x-serverless-authorization': MASKED_ID_TOKEN, accept: '*/*' }),
    ).toEqual({
      authorization: 'Bearer [masked]',
      cookie: '[masked]',
      'x-serverless-authorization': MASKED_ID_TOKEN,
      accept: '*/*',
    });
  });

  it('signs a GitHub request afresh with a new delivery id, and refuses a route it cannot sign, naming why', async () => {
    const loaded = parseConfig(
      {
        targets: { t: { url: 'http://127.0.0.1:9' } },
        routes: {
          gh: { verify: { scheme: 'github', secretEnv: 'S' }, forward: [{ target: 't' }] },
          oidc: {
            verify: { scheme: 'google-oidc', audience: 'https://relay.example', serviceAccounts: ['sender@p.iam.gserviceaccount.com'] },
            forward: [{ target: 't' }],
          },
        },
      },
      { S: "It's a Secret to Everybody" },
    );
    const options = { config: loaded.config, secret: (name: string) => loaded.secrets.get(name) };
    const stored = {
      route: 'gh',
      query: '',
      headers: {
        'x-github-delivery': 'old',
        'x-github-event': 'push',
        'x-hub-signature-256': 'sha256=stale',
        'content-length': '13',
        authorization: 'Bearer [masked]',
      },
      body: Buffer.from('Hello, World!'),
    };
    const { headers } = await signAgain(stored, options);
    expect(headers['x-hub-signature-256']).toBe('sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17');
    expect(headers['x-github-delivery']).not.toBe('old');
    expect(headers['x-github-event']).toBe('push');
    expect(headers).not.toHaveProperty('content-length');
    expect(headers).not.toHaveProperty('authorization');
    await expect(signAgain({ ...stored, route: 'oidc' }, options)).rejects.toThrow(/needs a Google ID token/);
  });
});

describe('traffic fields stay off the deployed hot path', () => {
  it('adds no request or sent fields to the log line unless logTraffic is on', async () => {
    const target = await listen((_req, res) => res.end('ok'));
    try {
      const loaded = parseConfig({
        targets: { t: { url: target.url } },
        routes: { p: { verify: { scheme: 'none' }, forward: [{ target: 't' }] } },
      });
      const tokens = createTokenCache({ source: { fetchIdToken: async () => 'token' } });
      const lines = async (logTraffic: boolean) => {
        const out: string[] = [];
        const relay = createRelay(loaded, { tokens, logger: createLogger({ write: (l) => out.push(l) }), logTraffic });
        await relay.handle({ method: 'POST', path: '/p', query: '', headers: { authorization: 'Bearer x' }, rawBody: Buffer.from('hi') });
        return out.map((l) => JSON.parse(l) as Record<string, unknown>);
      };
      const [off] = await lines(false);
      expect(off).not.toHaveProperty('request');
      expect(off).not.toHaveProperty('sent');
      const [on] = await lines(true);
      expect(on).toMatchObject({
        request: { headers: { authorization: 'Bearer [masked]' }, bodyBase64: b64('hi'), bytes: 2 },
        sent: { headers: { authorization: MASKED_ID_TOKEN }, bytes: 2 },
      });
    } finally {
      await target.close();
    }
  });
});

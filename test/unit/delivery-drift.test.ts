/**
 * The delivery rules that used to be written in several places and drifted
 * apart (issue 10, "one rule, one place"): each case here failed before the
 * rule had one home.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config/load.js';
import { createDeliverer } from '../../shared/delivery/deliver.js';
import { parseEnvelope } from '../../shared/envelope.js';
import { createHttpFetch } from '../../shared/forward/http-fetch.js';
import { createTokenCache } from '../../shared/identity/token-cache.js';
import { createRelay } from '../../shared/relay.js';
import { keyDigest } from '../../shared/verify/consumer-keys.js';
import { listen, sendJson } from '../emulators/http-util.js';
import { recordingPublisher } from '../support/recording-publisher.js';

const tokens = createTokenCache({ source: { fetchIdToken: async () => 'test-token' } });
const fast = { retries: 2, minDelayMs: 1, maxDelayMs: 1 };

type Seen = { method: string; url: string; headers: IncomingHttpHeaders };
let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.map((c) => c()));
  closers = [];
});

/** A loopback target answering `status`, recording what reaches it. */
async function target(status = 200) {
  const seen: Seen[] = [];
  const t = await listen((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    sendJson(res, status, {});
  });
  closers.push(t.close);
  return { url: t.url, seen };
}

const envelopeMessage = (envelope: unknown, messageId = 'm-1') => ({
  data: Buffer.from(JSON.stringify(envelope)),
  attributes: {},
  messageId,
  topic: 'relay-deliveries',
});

describe('path and query', () => {
  it('merges a forward path with its own query and the sender query the same way in async envelopes as in sync requests', async () => {
    const t = await target();
    const forward = [{ target: 't', path: '/x?a=1' }];
    const { publisher, published } = recordingPublisher();
    const loaded = parseConfig({
      targets: { t: { url: t.url } },
      routes: { s: { verify: { scheme: 'none' }, forward }, a: { verify: { scheme: 'none' }, mode: 'async', forward } },
    });
    const relay = createRelay(loaded, { tokens, publisher, fetch: createHttpFetch() });
    const request = (path: string) => ({
      method: 'POST',
      path,
      query: '?q=1',
      headers: { 'content-type': 'application/json' },
      rawBody: Buffer.from('{}'),
    });
    expect((await relay.handle(request('/s'))).status).toBe(200);
    expect((await relay.handle(request('/a'))).status).toBe(202);
    expect(t.seen[0]!.url).toBe('/x?a=1&q=1');
    expect(parseEnvelope(published[0]!.message.data).path).toBe('/x?a=1&q=1');
  });
});

describe('which statuses are retried', () => {
  it('parks a target 501 with the relay-dl-* reason after one attempt instead of nacking it for Pub/Sub to redeliver', async () => {
    const t = await target(501);
    const { publisher, published } = recordingPublisher();
    const deliverer = createDeliverer(parseConfig({ targets: { t: { url: t.url, retry: fast } } }), {
      tokens,
      publisher,
      fetch: createHttpFetch(),
    });
    const outcome = await deliverer.handle(envelopeMessage({ v: 1, target: 't' }));
    expect(outcome).toEqual({ kind: 'dead_lettered', reason: 'target_rejected', target: 't' });
    expect(t.seen).toHaveLength(1);
    expect(published[0]!.topic).toBe('relay-dead-letters');
    expect(published[0]!.message.attributes).toMatchObject({
      'relay-dl-reason': 'target_rejected',
      'relay-dl-status': '501',
      'relay-dl-attempts': '1',
    });
  });

  it('sends a 501 once on the sync path too, and passes it on', async () => {
    const t = await target(501);
    const relay = createRelay(
      parseConfig({
        targets: { t: { url: t.url, retry: fast } },
        routes: { r: { verify: { scheme: 'none' }, forward: [{ target: 't' }] } },
      }),
      { tokens, fetch: createHttpFetch() },
    );
    expect((await relay.handle({ method: 'POST', path: '/r', query: '', headers: {}, rawBody: Buffer.from('{}') })).status).toBe(501);
    expect(t.seen).toHaveLength(1);
  });

  it.each([500, 503, 429])('still lets Pub/Sub redeliver a %i after the in-function retries', async (status) => {
    const t = await target(status);
    const { publisher, published } = recordingPublisher();
    const deliverer = createDeliverer(parseConfig({ targets: { t: { url: t.url, retry: fast } } }), {
      tokens,
      publisher,
      fetch: createHttpFetch(),
    });
    await expect(deliverer.handle(envelopeMessage({ v: 1, target: 't' }))).rejects.toMatchObject({ code: 'target_retryable_status' });
    expect(t.seen).toHaveLength(3);
    expect(published).toHaveLength(0);
  });
});

describe('names that are not own properties of the config', () => {
  const loaded = parseConfig({
    targets: { t: { url: 'http://127.0.0.1:9' } },
    routes: { r: { verify: { scheme: 'none' }, forward: [{ target: 't' }] } },
    schedules: { s: { cron: '* * * * *', route: 'r' } },
  });

  it.each([
    ['route', '__proto__', 'unknown_route'],
    ['route', 'constructor', 'unknown_route'],
    ['route', 'toString', 'unknown_route'],
    ['schedule', '__proto__', 'unknown_schedule'],
    ['schedule', 'constructor', 'unknown_schedule'],
    ['schedule', 'toString', 'unknown_schedule'],
    ['target', 'constructor', 'unknown_target'],
  ])('parks an envelope whose %s is %j as %s instead of throwing', async (field, name, reason) => {
    const { publisher, published } = recordingPublisher();
    const deliverer = createDeliverer(loaded, { tokens, publisher });
    expect(await deliverer.handle(envelopeMessage({ v: 1, [field]: name }))).toMatchObject({ kind: 'dead_lettered', reason });
    expect(published[0]!.message.attributes?.['relay-dl-reason']).toBe(reason);
  });

  it('does not take an inherited property for a mapped topic attribute', async () => {
    const t = await target();
    const { publisher } = recordingPublisher();
    const deliverer = createDeliverer(
      parseConfig({
        targets: { t: { url: t.url } },
        topics: { orders: { forward: [{ target: 't' }], attributeHeaders: ['constructor', 'x-kind'] } },
      }),
      { tokens, publisher, fetch: createHttpFetch() },
    );
    expect(
      await deliverer.handle({ data: Buffer.from('{}'), attributes: { 'x-kind': 'new' }, messageId: 'm-1', topic: 'orders' }),
    ).toMatchObject({ kind: 'delivered' });
    expect(t.seen[0]!.headers['x-kind']).toBe('new');
    expect(Object.hasOwn(t.seen[0]!.headers, 'constructor')).toBe(false);
  });
});

describe('headers only the relay sets', () => {
  const claimed = {
    'x-relay-consumer': 'admin',
    expect: '100-continue',
    'idempotency-key': 'forged',
    'x-serverless-authorization': 'Bearer forged',
    'x-order': '1',
  };

  it("never passes a consumer, expect or the relay's own headers from an envelope to the target", async () => {
    const t = await target();
    const { publisher } = recordingPublisher();
    const deliverer = createDeliverer(parseConfig({ targets: { t: { url: t.url } } }), { tokens, publisher, fetch: createHttpFetch() });
    expect(await deliverer.handle(envelopeMessage({ v: 1, target: 't', headers: claimed }, 'm-7'))).toMatchObject({ kind: 'delivered' });
    const headers = t.seen[0]!.headers;
    expect(headers['x-relay-consumer']).toBeUndefined();
    expect(headers['expect']).toBeUndefined();
    expect(headers['x-serverless-authorization']).toBeUndefined();
    expect(headers['idempotency-key']).toBe('m-7');
    expect(headers['authorization']).toBe('Bearer test-token');
    expect(headers['x-order']).toBe('1');
  });

  it('strips them again when a route envelope fans out into per-target envelopes', async () => {
    const { publisher, published } = recordingPublisher();
    const loaded = parseConfig({
      targets: { a: { url: 'http://127.0.0.1:9' }, b: { url: 'http://127.0.0.1:9' } },
      routes: { r: { verify: { scheme: 'none' }, forward: [{ target: 'a' }, { target: 'b' }] } },
    });
    const deliverer = createDeliverer(loaded, { tokens, publisher });
    expect(await deliverer.handle(envelopeMessage({ v: 1, route: 'r', headers: claimed }, 'm-8'))).toMatchObject({ kind: 'fanned_out' });
    for (const p of published) expect(parseEnvelope(p.message.data).headers).toEqual({ 'x-order': '1' });
  });

  it("publishes an async route's envelopes without the consumer its keys named: a topic cannot vouch for one", async () => {
    const { publisher, published } = recordingPublisher();
    const keys = [{ consumer: 'acme', sha256: keyDigest('rrk_acme_key').toString('hex') }];
    const loaded = parseConfig({
      targets: { a: { url: 'http://127.0.0.1:9' } },
      routes: { p: { verify: { scheme: 'bearer', keys }, mode: 'async', forward: [{ target: 'a' }] } },
    });
    const relay = createRelay(loaded, { tokens, publisher });
    const res = await relay.handle({
      method: 'POST',
      path: '/p',
      query: '',
      headers: { authorization: 'Bearer rrk_acme_key', 'x-relay-consumer': 'admin', 'content-type': 'application/json' },
      rawBody: Buffer.from('{}'),
    });
    expect(res.status).toBe(202);
    const { headers } = parseEnvelope(published[0]!.message.data);
    expect(Object.keys(headers).filter((h) => h.startsWith('x-relay-') || h === 'idempotency-key' || h === 'authorization')).toEqual([]);
  });
});

describe('envelopes that can never be sent', () => {
  it.each([
    ['a 100 KB path', { path: '/' + 'p'.repeat(100_000) }],
    ['a 200 KB header value', { headers: { 'x-big': 'v'.repeat(200_000) } }],
    ['70 KB of headers in all', { headers: Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`x-h${i}`, 'v'.repeat(10_000)])) }],
  ])('parks one with %s as request_not_sendable without calling the target', async (_name, extra) => {
    const t = await target();
    const { publisher, published } = recordingPublisher();
    const deliverer = createDeliverer(parseConfig({ targets: { t: { url: t.url, retry: { retries: 0 } } } }), {
      tokens,
      publisher,
      fetch: createHttpFetch(),
    });
    expect(await deliverer.handle(envelopeMessage({ v: 1, target: 't', ...extra }))).toEqual({
      kind: 'dead_lettered',
      reason: 'request_not_sendable',
      target: 't',
    });
    expect(t.seen).toHaveLength(0);
    expect(published[0]!.message.attributes?.['relay-dl-detail']).toMatch(/over the \d+-byte limit/);
  });
});

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config/load.js';
import { createDeliverer } from '../../shared/delivery/deliver.js';
import { parseEnvelope } from '../../shared/envelope.js';
import { createTokenCache } from '../../shared/identity/token-cache.js';
import type { OutgoingMessage, Publisher } from '../../shared/pubsub/publisher.js';
import { createRelay } from '../../shared/relay.js';
import { listen, sendJson } from '../emulators/http-util.js';

const tokens = createTokenCache({ source: { fetchIdToken: async () => 'test-token' } });

function recordingPublisher(fail: (topic: string, n: number) => boolean = () => false) {
  const published: { topic: string; message: OutgoingMessage }[] = [];
  let n = 0;
  const publisher: Publisher = {
    async publish(topic, message) {
      if (fail(topic, ++n)) throw new Error('UNAVAILABLE: pubsub down');
      published.push({ topic, message });
      return String(n);
    },
    async close() {},
  };
  return { publisher, published };
}

const config = (extra: Record<string, unknown> = {}) =>
  parseConfig({
    targets: { a: { url: 'http://127.0.0.1:9/a' }, b: { url: 'http://127.0.0.1:9/b' } },
    routes: { hook: { verify: { scheme: 'none' }, mode: 'async', forward: [{ target: 'a' }, { target: 'b', path: '/x' }] } },
    ...extra,
  });

const request = (body = '{"hello":1}') => ({
  method: 'POST',
  path: '/hook',
  query: '?q=1',
  headers: { 'content-type': 'application/json', 'x-request-id': 'r-1' },
  rawBody: Buffer.from(body),
});

describe('async routes', () => {
  it('answers 202 after publishing one envelope per target to the delivery topic, the body kept byte for byte', async () => {
    const { publisher, published } = recordingPublisher();
    const relay = createRelay(config(), { tokens, publisher });
    const res = await relay.handle(request('{"hello":"\u2603"}'));
    expect(res.status).toBe(202);
    expect(published.map((p) => p.topic)).toEqual(['relay-deliveries', 'relay-deliveries']);
    const [ea, eb] = published.map((p) => parseEnvelope(p.message.data));
    const key = JSON.parse(String(res.body)).idempotencyKey as string;
    expect(ea).toMatchObject({ target: 'a', path: '/?q=1', idempotencyKey: `${key}:a`, origin: { kind: 'webhook', name: 'hook' } });
    expect(eb).toMatchObject({ target: 'b', path: '/x?q=1', idempotencyKey: `${key}:b` });
    expect(Buffer.from(ea!.bodyBase64!, 'base64').toString()).toBe('{"hello":"\u2603"}');
    expect(ea!.headers['idempotency-key']).toBeUndefined();
    expect(published[0]!.message.attributes).toMatchObject({ 'relay-envelope': '1', 'relay-target': 'a' });
  });

  it('answers 503 with a JSON error when Pub/Sub does not store every delivery, so the sender retries', async () => {
    const { publisher } = recordingPublisher((_t, n) => n === 2);
    const relay = createRelay(config(), { tokens, publisher });
    const res = await relay.handle(request());
    expect(res.status).toBe(503);
    expect(JSON.parse(String(res.body))).toEqual({ error: { code: 'unavailable', message: 'The event could not be stored; retry later' } });
  });
});

describe('the pubsub function core', () => {
  it('throws (so Pub/Sub redelivers) when a refused delivery cannot be parked in the dead-letter topic', async () => {
    const target = await listen((_req, res) => sendJson(res, 400, { bad: true }));
    try {
      const { publisher } = recordingPublisher((topic) => topic === 'relay-dead-letters');
      const loaded = parseConfig({ targets: { t: { url: target.url, retry: { retries: 0 } } } });
      const deliverer = createDeliverer(loaded, { tokens, publisher });
      const message = { data: Buffer.from('{"v":1,"target":"t"}'), attributes: {}, messageId: 'm-1' };
      await expect(deliverer.handle(message)).rejects.toMatchObject({ code: 'unavailable', retryable: true });
    } finally {
      await target.close();
    }
  });

  it('parks a refused delivery with its reason, last status and attempt count, and acks', async () => {
    const target = await listen((_req, res) => sendJson(res, 404, {}));
    try {
      const { publisher, published } = recordingPublisher();
      const loaded = parseConfig({ targets: { t: { url: target.url } } });
      const deliverer = createDeliverer(loaded, { tokens, publisher });
      const outcome = await deliverer.handle({
        data: Buffer.from('{"v":1,"target":"t","idempotencyKey":"k"}'),
        attributes: { custom: 'x' },
        messageId: 'm-2',
        topic: 'relay-deliveries',
      });
      expect(outcome).toEqual({ kind: 'dead_lettered', reason: 'target_rejected', target: 't' });
      expect(published[0]!.topic).toBe('relay-dead-letters');
      expect(published[0]!.message.attributes).toMatchObject({
        custom: 'x',
        'relay-dl-reason': 'target_rejected',
        'relay-dl-status': '404',
        'relay-dl-attempts': '1',
        'relay-dl-target': 't',
        'relay-dl-replay-topic': 'relay-deliveries',
      });
      expect(parseEnvelope(published[0]!.message.data).idempotencyKey).toBe('k');
    } finally {
      await target.close();
    }
  });
});

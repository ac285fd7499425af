import type { PubSub } from '@google-cloud/pubsub';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config/load.js';
import { deadLetterAttributes, DL_PREFIX, truncateUtf8 } from '../../shared/delivery/dead-letter.js';
import { acceptAsync } from '../../shared/delivery/accept.js';
import { replayDeadLetters } from '../../shared/delivery/dead-letters.js';
import { createDeliverer } from '../../shared/delivery/deliver.js';
import { createHttpFetch } from '../../shared/forward/http-fetch.js';
import { createTokenCache } from '../../shared/identity/token-cache.js';
import { createLogger } from '../../shared/log.js';
import { pubSubPublisher } from '../../shared/pubsub/publisher.js';
import type { PulledMessage, Puller } from '../../shared/pubsub/pull.js';
import { listen, sendJson } from '../emulators/http-util.js';
import { recordingPublisher } from '../support/recording-publisher.js';

const tokens = createTokenCache({ source: { fetchIdToken: async () => 'test-token' } });

describe('answers that cannot be used', () => {
  it('parks a delivery whose answer cannot be read instead of redelivering it: the target may already have acted', async () => {
    let hits = 0;
    const target = await listen((_req, res) => {
      hits++;
      res.writeHead(200, { 'content-encoding': 'gzip' }).end('not gzip');
    });
    try {
      const { publisher, published } = recordingPublisher();
      const deliverer = createDeliverer(
        parseConfig({ targets: { t: { url: target.url, retry: { retries: 3, minDelayMs: 1, maxDelayMs: 1 } } } }),
        { tokens, publisher, fetch: createHttpFetch() },
      );
      const outcome = await deliverer.handle({
        data: Buffer.from(JSON.stringify({ v: 1, target: 't', body: 'x' })),
        attributes: {},
        messageId: 'm-2',
        topic: 'relay-deliveries',
      });
      expect(outcome).toEqual({ kind: 'dead_lettered', reason: 'target_invalid_response', target: 't' });
      expect(hits).toBe(1);
      expect(published).toHaveLength(1);
      expect(published[0]!.message.attributes?.['relay-dl-reason']).toBe('target_invalid_response');
    } finally {
      await target.close();
    }
  });
});

describe('header values a target can be sent', () => {
  it('parks an envelope whose header value or idempotency key is not a valid HTTP header value instead of retrying it forever', async () => {
    const target = await listen((_req, res) => sendJson(res, 200, {}));
    try {
      const { publisher, published } = recordingPublisher();
      const deliverer = createDeliverer(parseConfig({ targets: { t: { url: target.url } } }), { tokens, publisher });
      for (const envelope of [
        { v: 1, target: 't', headers: { 'x-order': '\u6ce8\u6587-1' } },
        { v: 1, target: 't', idempotencyKey: '\u00e9\u2603' },
      ]) {
        const outcome = await deliverer.handle({
          data: Buffer.from(JSON.stringify(envelope)),
          attributes: {},
          messageId: 'm-1',
          topic: 'relay-deliveries',
        });
        expect(outcome).toEqual({ kind: 'dead_lettered', reason: 'invalid_envelope' });
      }
      expect(published.map((p) => p.message.attributes?.['relay-dl-detail'])).toEqual([
        expect.stringContaining('headers.x-order: expected a valid HTTP header value'),
        expect.stringContaining('idempotencyKey: expected a valid HTTP header value'),
      ]);
    } finally {
      await target.close();
    }
  });

  it('drops a plain-topic attribute that is not a valid header value, naming it (never its value) in a warning, and delivers the rest', async () => {
    const received: Record<string, string | string[] | undefined>[] = [];
    const target = await listen((req, res) => {
      received.push(req.headers);
      sendJson(res, 200, {});
    });
    try {
      const lines: string[] = [];
      const { publisher } = recordingPublisher();
      const loaded = parseConfig({
        targets: { t: { url: target.url } },
        topics: { orders: { forward: [{ target: 't' }], attributeHeaders: ['x-kind', 'x-note'], subscriptions: ['orders-push'] } },
      });
      const deliverer = createDeliverer(loaded, { tokens, publisher, logger: createLogger({ write: (l) => lines.push(l) }) });
      const outcome = await deliverer.handle({
        data: Buffer.from('{}'),
        attributes: { 'x-kind': 'new', 'x-note': '\u6ce8\u6587-1' },
        messageId: 'm-2',
        topic: 'orders',
      });
      expect(outcome).toMatchObject({ kind: 'delivered', status: 200 });
      expect(received[0]!['x-kind']).toBe('new');
      expect(received[0]!['x-note']).toBeUndefined();
      const warning = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.severity === 'WARNING');
      expect(warning).toMatchObject({ attribute: 'x-note' });
      expect(lines.join('\n')).not.toContain('\u6ce8\u6587');
    } finally {
      await target.close();
    }
  });
});

describe('dead-letter attributes within Pub/Sub limits', () => {
  const why = {
    reason: 'target_rejected' as const,
    detail: '\u2603'.repeat(2000),
    replayTopic: 'relay-deliveries',
    messageId: 'm-1',
    target: 't',
  };
  const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

  it('truncates values to 1024 UTF-8 bytes without cutting a character in half', () => {
    expect(truncateUtf8('ab\u2603', 4)).toBe('ab');
    expect(truncateUtf8('ab\u2603', 5)).toBe('ab\u2603');
    expect(truncateUtf8('\u{1F600}x', 3)).toBe('');
    const attributes = deadLetterAttributes({ note: '\u00e9'.repeat(1000) }, why, new Date(0));
    for (const value of Object.values(attributes)) expect(bytes(value)).toBeLessThanOrEqual(1024);
    expect(attributes[`${DL_PREFIX}detail`]).toBe('\u2603'.repeat(341));
    expect(attributes.note).toBe('\u00e9'.repeat(512));
  });

  it('keeps at most 100 attributes: every relay one, as many originals as fit, and how many were dropped', () => {
    const original = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`a${i}`, String(i)]));
    const attributes = deadLetterAttributes({ ...original, [`${DL_PREFIX}reason`]: 'old' }, why, new Date(0));
    expect(Object.keys(attributes)).toHaveLength(100);
    expect(attributes).toMatchObject({
      [`${DL_PREFIX}reason`]: 'target_rejected',
      [`${DL_PREFIX}target`]: 't',
      [`${DL_PREFIX}message-id`]: 'm-1',
      a0: '0',
    });
    const kept = Object.keys(attributes).filter((k) => !k.startsWith(DL_PREFIX)).length;
    expect(Number(attributes[`${DL_PREFIX}dropped-attributes`])).toBe(100 - kept);
    // Few originals: all kept, no dropped count.
    const small = deadLetterAttributes({ a: '1' }, why, new Date(0));
    expect(small.a).toBe('1');
    expect(small[`${DL_PREFIX}dropped-attributes`]).toBeUndefined();
  });
});

describe('the Pub/Sub publisher', () => {
  it('fails a publish within its bound when nothing listens at the Pub/Sub address', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    // Through process.env, as a deployed function would see it; without a bound the client retries for up to 600 s.
    const saved = process.env.PUBSUB_EMULATOR_HOST;
    process.env.PUBSUB_EMULATOR_HOST = `127.0.0.1:${port}`;
    const publisher = pubSubPublisher({ projectId: 'relay-test', timeoutMs: 1500 });
    const started = Date.now();
    try {
      const error = await publisher.publish('anything', { data: Buffer.from('x') }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(Error);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      if (saved === undefined) delete process.env.PUBSUB_EMULATOR_HOST;
      else process.env.PUBSUB_EMULATOR_HOST = saved;
      await publisher.close();
    }
  }, 20_000);

  it('takes a tighter per-publish bound (a route deadline) than its own', async () => {
    const fake = {
      topic: () => ({ publishMessage: () => new Promise(() => {}), flush: async () => {} }),
      close: async () => {},
    } as unknown as PubSub;
    const publisher = pubSubPublisher({ open: async () => fake });
    const started = Date.now();
    await expect(publisher.publish('t', { data: Buffer.from('x') }, { timeoutMs: 300 })).rejects.toThrow('within 300 ms');
    expect(Date.now() - started).toBeLessThan(2000);
    await publisher.close();
  });

  it('an async acceptance passes its bound to the publisher and fails (503) when the publish runs out of time', async () => {
    const fake = {
      topic: () => ({ publishMessage: () => new Promise(() => {}), flush: async () => {} }),
      close: async () => {},
    } as unknown as PubSub;
    const publisher = pubSubPublisher({ open: async () => fake });
    const started = Date.now();
    const accepting = acceptAsync(
      {
        publisher,
        topic: 'relay-deliveries',
        route: 'r',
        destinations: [{ target: 't', path: '/', method: 'POST' }],
        headers: {},
        body: Buffer.from('{}'),
        query: '',
        eventKey: 'k',
        acceptedAt: new Date(),
        timeoutMs: 300,
      },
      createLogger({ write: () => {} }),
    );
    await expect(accepting).rejects.toMatchObject({ code: 'unavailable' });
    expect(Date.now() - started).toBeLessThan(2000);
    await publisher.close();
  });

  it('does not remember a failed client open: the next publish opens again', async () => {
    let opens = 0;
    const fake = {
      topic: () => ({ publishMessage: async () => 'id-1', flush: async () => {} }),
      close: async () => {},
    } as unknown as PubSub;
    const publisher = pubSubPublisher({
      open: async () => {
        if (++opens === 1) throw new Error('cannot load @google-cloud/pubsub');
        return fake;
      },
    });
    await expect(publisher.publish('t', { data: Buffer.from('x') })).rejects.toThrow('cannot load');
    await expect(publisher.publish('t', { data: Buffer.from('x') })).resolves.toBe('id-1');
    expect(opens).toBe(2);
    await publisher.close();
  });
});

describe('dlq replay', () => {
  function parked(n: number): PulledMessage[] {
    return Array.from({ length: n }, (_, i) => ({
      ackId: `ack-${i}`,
      messageId: `m-${i}`,
      data: Buffer.from(`{"n":${i}}`),
      attributes: { [`${DL_PREFIX}replay-topic`]: 'relay-deliveries' },
    }));
  }
  function fakePuller(messages: PulledMessage[], ackFails = false) {
    const queue = [...messages];
    const log: string[] = [];
    const puller: Puller = {
      async pull(max = 100) {
        const batch = queue.splice(0, max);
        log.push(`pull ${batch.length}`);
        return batch;
      },
      async ack(ackIds) {
        if (ackIds.length === 0) return;
        log.push(`ack ${ackIds.length}`);
        if (ackFails) throw new Error('ack deadline expired');
      },
      async release(ackIds) {
        log.push(`release ${ackIds.length}`);
      },
      async close() {},
    };
    return { puller, log };
  }

  it('pulls, publishes and acks in bounded batches, never holding everything before the first ack', async () => {
    const { puller, log } = fakePuller(parked(250));
    const { publisher, published } = recordingPublisher();
    const result = await replayDeadLetters(puller, publisher, { all: true, defaultTopic: 'relay-deliveries' });
    expect(result.replayed).toHaveLength(250);
    expect(published).toHaveLength(250);
    expect(log.slice(0, 6)).toEqual(['pull 100', 'ack 100', 'pull 100', 'ack 100', 'pull 50', 'ack 50']);
  });

  it('reports messages published but not acked apart from failures', async () => {
    const { puller } = fakePuller(parked(3), true);
    const { publisher } = recordingPublisher();
    const result = await replayDeadLetters(puller, publisher, { all: true, defaultTopic: 'relay-deliveries' });
    expect(result.failed).toEqual([]);
    expect(result.replayed).toEqual([]);
    expect(result.notAcked.map((n) => n.id)).toEqual(['m-0', 'm-1', 'm-2']);
    expect(result.notAcked[0]).toMatchObject({ topic: 'relay-deliveries', newMessageId: '1', error: 'ack deadline expired' });
  });
});

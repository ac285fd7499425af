import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config/load.js';
import { createDeliverer } from '../../shared/delivery/deliver.js';
import { envelopeMessage } from '../../shared/envelope.js';
import { createHttpFetch } from '../../shared/forward/http-fetch.js';
import { createTokenCache } from '../../shared/identity/token-cache.js';
import { schedulerJobEnvelope } from '../../shared/schedule/schedule.js';
import { listen, sendJson } from '../emulators/http-util.js';
import { recordingPublisher } from '../support/recording-publisher.js';

const tokens = createTokenCache({ source: { fetchIdToken: async () => 'test-token' } });

describe('the envelope a Cloud Scheduler job publishes', () => {
  it('names the schedule, carries its body and headers, and no key (each tick has its own message id)', () => {
    const { config } = parseConfig({
      targets: { a: { url: 'https://a-1234567.europe-west1.run.app' } },
      schedules: {
        nightly: { cron: '0 3 * * *', forward: [{ target: 'a', path: '/n' }], body: '{"x":1}', contentType: 'application/json' },
      },
    });
    const envelope = schedulerJobEnvelope(config, 'nightly');
    expect(envelope).toEqual({
      v: 1,
      schedule: 'nightly',
      headers: { 'content-type': 'application/json', 'x-relay-schedule': 'nightly' },
      body: '{"x":1}',
      origin: { kind: 'schedule', name: 'nightly' },
    });
    expect(envelope).not.toHaveProperty('idempotencyKey');
    expect(() => schedulerJobEnvelope(config, 'missing')).toThrow(/No schedule named "missing"; expected one of: nightly/);
  });

  it("is fanned out by the pubsub function to each entry of the schedule's forward list, with per-target keys from the message id", async () => {
    const { config } = parseConfig({
      targets: { a: { url: 'http://127.0.0.1:1' }, b: { url: 'http://127.0.0.1:1' } },
      schedules: {
        tick: {
          cron: '* * * * *',
          forward: [
            { target: 'a', path: '/x' },
            { target: 'b', path: '/y', method: 'PUT' },
          ],
          body: 'hi',
        },
      },
    });
    const { publisher, published } = recordingPublisher();
    const deliverer = createDeliverer({ config, secrets: new Map(), source: 'test' }, { tokens, publisher });
    const message = envelopeMessage(schedulerJobEnvelope(config, 'tick'));
    const outcome = await deliverer.handle({ ...message, messageId: 'tick-42', topic: 'relay-deliveries' });
    expect(outcome.kind).toBe('fanned_out');
    const envelopes = published.map((p) => JSON.parse(p.message.data.toString('utf8')));
    expect(
      envelopes.map((e) => [e.target, e.path, e.method, e.idempotencyKey, e.body ?? Buffer.from(e.bodyBase64, 'base64').toString()]),
    ).toEqual([
      ['a', '/x', 'POST', 'tick-42:a', 'hi'],
      ['b', '/y', 'PUT', 'tick-42:b', 'hi'],
    ]);
  });

  it("reaches the one target of a one-entry schedule directly, and a route schedule's route targets", async () => {
    const seen: string[] = [];
    const target = await listen((req, res, body) => {
      seen.push(`${req.method} ${req.url} ${req.headers['x-relay-schedule']} ${req.headers['idempotency-key']} ${body.toString('utf8')}`);
      sendJson(res, 200, {});
    });
    try {
      const { config } = parseConfig(
        {
          targets: { t: { url: target.url } },
          routes: { hook: { verify: { scheme: 'none' }, forward: [{ target: 't', path: '/hook' }] } },
          schedules: {
            one: { cron: '* * * * *', forward: [{ target: 't', path: '/one' }], body: 'b1' },
            viaRoute: { cron: '* * * * *', route: 'hook', body: 'b2' },
          },
        },
        {},
      );
      const { publisher } = recordingPublisher();
      const deliverer = createDeliverer({ config, secrets: new Map(), source: 'test' }, { tokens, publisher, fetch: createHttpFetch() });
      for (const [name, id] of [
        ['one', 'm-1'],
        ['viaRoute', 'm-2'],
      ] as const) {
        const outcome = await deliverer.handle({
          ...envelopeMessage(schedulerJobEnvelope(config, name)),
          messageId: id,
          topic: 'relay-deliveries',
        });
        expect(outcome.kind).toBe('delivered');
      }
      expect(seen).toEqual(['POST /one one m-1:t b1', 'POST /hook viaRoute m-2:t b2']);
    } finally {
      await target.close();
    }
  });

  it('parks an envelope naming a schedule the config does not have', async () => {
    const { config } = parseConfig({ targets: { t: { url: 'http://127.0.0.1:1' } } });
    const { publisher, published } = recordingPublisher();
    const deliverer = createDeliverer({ config, secrets: new Map(), source: 'test' }, { tokens, publisher });
    const outcome = await deliverer.handle({ ...envelopeMessage({ v: 1, schedule: 'gone' }), messageId: 'm-9', topic: 'relay-deliveries' });
    expect(outcome).toMatchObject({ kind: 'dead_lettered', reason: 'unknown_schedule' });
    expect(published[0]!.message.attributes?.['relay-dl-reason']).toBe('unknown_schedule');
  });
});

describe('mapped topics fed by the push subscription deploy creates', () => {
  it("recognises an attribute-only message from <deploy.name>-topic-<topic> as that topic's", async () => {
    const seen: string[] = [];
    const target = await listen((req, res) => {
      seen.push(`${req.url} ${req.headers['x-kind']}`);
      sendJson(res, 200, {});
    });
    try {
      const { config } = parseConfig({
        targets: { t: { url: target.url } },
        topics: { 'inventory-changes': { forward: [{ target: 't', path: '/inv' }], attributeHeaders: ['x-kind'] } },
        deploy: { name: 'shop-relay' },
      });
      const { publisher } = recordingPublisher();
      const deliverer = createDeliverer({ config, secrets: new Map(), source: 'test' }, { tokens, publisher, fetch: createHttpFetch() });
      // Raw push of a message without data: no topic in the event, only the subscription.
      const outcome = await deliverer.handle({
        data: Buffer.alloc(0),
        attributes: { 'x-kind': 'restock' },
        messageId: 'p-1',
        subscription: 'shop-relay-topic-inventory-changes',
      });
      expect(outcome.kind).toBe('delivered');
      expect(seen).toEqual(['/inv restock']);
    } finally {
      await target.close();
    }
  });
});

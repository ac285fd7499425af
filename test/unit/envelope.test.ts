import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config/load.js';
import { messageFromEvent } from '../../shared/delivery/message.js';
import { deriveKey, EnvelopeError, parseEnvelope } from '../../shared/envelope.js';
import { createDeliverer } from '../../shared/delivery/deliver.js';
import { createTokenCache } from '../../shared/identity/token-cache.js';
import { publishTick, scheduleEnvelope, schedulerJobEnvelope } from '../../shared/schedule/schedule.js';
import { recordingPublisher } from '../support/recording-publisher.js';

const tokens = createTokenCache({ source: { fetchIdToken: async () => 'test-token' } });

describe('relay envelopes', () => {
  it('accepts a minimal envelope naming one target and fills in defaults', () => {
    const e = parseEnvelope(Buffer.from('{"v":1,"target":"svc"}'));
    expect(e).toMatchObject({ v: 1, target: 'svc', headers: {}, origin: { kind: 'external' } });
  });

  it.each([
    ['not json', /not JSON/],
    ['{"v":2,"target":"svc"}', /v: expected "v": 1/],
    ['{"v":1}', /exactly one of `route`, `target`, `targets` or `schedule`/],
    ['{"v":1,"route":"r","target":"t"}', /exactly one of/],
    ['{"v":1,"target":"t","body":"a","bodyBase64":"YQ=="}', /at most one of `body` or `bodyBase64`/],
    ['{"v":1,"target":"t","path":"no-slash"}', /path: expected a path starting with "\/"/],
    ['{"v":1,"target":"t","headers":{"X-Upper":"1"}}', /lower-case header names/],
    ['{"v":1,"target":"t","headers":{"x-order":"注文-1"}}', /headers\.x-order: expected a valid HTTP header value/],
    ['{"v":1,"target":"t","headers":{"x-a":"line\\nbreak"}}', /headers\.x-a: expected a valid HTTP header value/],
    ['{"v":1,"target":"t","idempotencyKey":"é☃"}', /idempotencyKey: expected a valid HTTP header value/],
  ])('refuses %s with a reason naming the field', (data, reason) => {
    expect(() => parseEnvelope(Buffer.from(data))).toThrow(EnvelopeError);
    expect(() => parseEnvelope(Buffer.from(data))).toThrow(reason);
  });

  it('accepts header values and keys node:http can send: tab, printable ASCII, Latin-1', () => {
    const e = parseEnvelope(
      Buffer.from(JSON.stringify({ v: 1, target: 't', headers: { 'x-a': 'caf\u00e9\tok' }, idempotencyKey: 'k-\u00e9' })),
    );
    expect(e.headers['x-a']).toBe('caf\u00e9\tok');
    expect(e.idempotencyKey).toBe('k-\u00e9');
  });

  it('derives a distinct, stable key per target from the event key', () => {
    expect(deriveKey('evt-1', 'a')).toBe(deriveKey('evt-1', 'a'));
    expect(deriveKey('evt-1', 'a')).not.toBe(deriveKey('evt-1', 'b'));
  });
});

describe('reading Pub/Sub messages from what the framework hands the function', () => {
  it('reads a converted messagePublished CloudEvent, topic included', () => {
    const m = messageFromEvent({
      source: '//pubsub.googleapis.com/projects/p/topics/orders',
      data: {
        message: {
          data: Buffer.from('hi').toString('base64'),
          attributes: { a: '1' },
          messageId: '42',
          publishTime: '2026-01-01T00:00:00Z',
        },
      },
    });
    expect(m).toMatchObject({ messageId: '42', topic: 'orders', attributes: { a: '1' } });
    expect(m!.data.toString()).toBe('hi');
  });

  it('reads a raw push body of an attribute-only message, which the framework leaves unconverted', () => {
    const m = messageFromEvent({
      subscription: 'projects/p/subscriptions/orders-push',
      message: { attributes: { kind: 'ping' }, messageId: '7' },
    });
    expect(m).toMatchObject({ messageId: '7', subscription: 'orders-push', attributes: { kind: 'ping' } });
    expect(m!.data).toHaveLength(0);
  });

  it.each([[null], ['text'], [{ data: {} }], [{ message: { data: 'aGk=' } }]])(
    'returns nothing for %j, which is not a Pub/Sub message',
    (event) => {
      expect(messageFromEvent(event)).toBeUndefined();
    },
  );
});

describe('delivery config', () => {
  const targets = { svc: { url: 'https://svc.example.com' } };

  it('names each bad key of topics and schedules', () => {
    expect(() =>
      parseConfig({
        targets,
        topics: { orders: { forward: [{ target: 'nope' }] } },
        schedules: {
          bad: { cron: '61 * * * *', timeZone: 'Mars/Base', forward: [{ target: 'svc' }] },
          both: { cron: '* * * * *', route: 'x', forward: [{ target: 'svc' }] },
        },
      }),
    ).toThrow(
      /topics\.orders\.forward\[0\]\.target: unknown target "nope"[\s\S]*schedules\.bad\.cron: invalid cron: minute[\s\S]*schedules\.bad\.timeZone: unknown time zone "Mars\/Base"/,
    );
  });

  it('defaults the relay topics and leaves routes synchronous unless they say async', () => {
    const { config } = parseConfig({ targets, routes: { r: { verify: { scheme: 'none' }, forward: [{ target: 'svc' }] } } });
    expect(config.pubsub).toEqual({
      deliveryTopic: 'relay-deliveries',
      deadLetterTopic: 'relay-dead-letters',
      deadLetterSubscription: 'relay-dead-letters-inbox',
      deliveryDeadlineMs: 60_000,
    });
    expect(config.routes.r!.mode).toBe('sync');
  });

  it('publishes one {schedule} envelope per tick, the shape Cloud Scheduler publishes plus the tick key', async () => {
    const { config } = parseConfig({
      targets: { ...targets, other: { url: 'https://other.example.com' } },
      schedules: {
        s: {
          cron: '* * * * *',
          forward: [
            { target: 'svc', path: '/a' },
            { target: 'other', method: 'PUT' },
          ],
          body: '{}',
        },
      },
    });
    const { publisher, published } = recordingPublisher();
    const at = new Date('2026-05-01T03:00:00Z');
    await publishTick(config, publisher, 's', { key: 'tick-1', at });
    expect(published).toHaveLength(1);
    const envelope = JSON.parse(published[0]!.message.data.toString('utf8'));
    expect(envelope).toEqual({
      ...schedulerJobEnvelope(config, 's'),
      idempotencyKey: 'tick-1',
      origin: { kind: 'schedule', name: 's', at: at.toISOString() },
    });
    // The pubsub function fans it out with one key per target, derived from the tick's.
    const fanout = recordingPublisher();
    const deliverer = createDeliverer({ config, secrets: new Map(), source: 'test' }, { tokens, publisher: fanout.publisher });
    expect(
      await deliverer.handle({
        data: published[0]!.message.data,
        attributes: published[0]!.message.attributes ?? {},
        messageId: 'm-1',
        topic: 'relay-deliveries',
      }),
    ).toMatchObject({ kind: 'fanned_out', deliveries: 2 });
    expect(fanout.published.map((p) => parseEnvelope(p.message.data)).map((e) => [e.target, e.path, e.method, e.idempotencyKey])).toEqual([
      ['svc', '/a', 'POST', 'tick-1:svc'],
      ['other', '/', 'PUT', 'tick-1:other'],
    ]);
    // Without a tick key (Cloud Scheduler's fixed payload) the message id becomes the key.
    expect(scheduleEnvelope(config, 's').idempotencyKey).toBeUndefined();
  });
});

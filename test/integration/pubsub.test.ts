import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sendJson } from '../emulators/http-util.js';
import type { MetadataServer } from '../emulators/metadata-server.js';
import { echo, type Behaviour } from '../emulators/private-target.js';
import { PROJECT, startAsyncStack, eventually, type AsyncStack } from '../support/async-stack.js';
import { startPubSubEmulator } from '../support/pubsub-emulator.js';
import { githubSignature } from '../support/sign.js';
import { useMetadataServer } from '../support/stack.js';
import { listDeadLetters, replayDeadLetters } from '../../shared/delivery/dead-letters.js';
import { envelopeMessage } from '../../shared/envelope.js';
import { main } from '../../shared/cli/main.js';
import { ensureSubscription } from '../../shared/pubsub/admin.js';
import { openPubSub } from '../../shared/pubsub/publisher.js';

const SUITE = 'durable delivery through the Pub/Sub emulator (test/integration/pubsub.test.ts)';
const emulator = await startPubSubEmulator(SUITE);

const SECRET = 'pubsub-webhook-secret-value';
const env = { GITHUB_WEBHOOK_SECRET: SECRET };
const fastRetry = { retries: 1, minDelayMs: 50, maxDelayMs: 100 };

let metadata: MetadataServer;
let stack: AsyncStack | undefined;

beforeAll(async () => {
  metadata = await useMetadataServer();
});
afterAll(async () => {
  await metadata?.close();
  await emulator?.close();
});
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

function postGithub(s: AsyncStack, route: string, body: string, delivery: string) {
  return fetch(`${s.webhookUrl}/${route}`, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': delivery,
      'x-hub-signature-256': githubSignature(SECRET, body),
    },
  });
}

/** A topic or subscription name unique to this run: a shared emulator (CI runs the suite twice on one) keeps names. */
let seq = 0;
const unique = (name: string) => `${name}-${process.pid}-${++seq}-${Date.now() % 100_000}`;

const github = { scheme: 'github', secretEnv: 'GITHUB_WEBHOOK_SECRET' };
const status =
  (code: number): Behaviour =>
  (_req, res) =>
    sendJson(res, code, { code });

describe.runIf(emulator)('durable delivery on the Pub/Sub emulator', () => {
  it('points an existing push subscription at a new endpoint (a restarted stack, or a second run on a shared emulator)', async () => {
    const pubsub = await openPubSub({ projectId: PROJECT });
    const [topic, name] = [unique('moved'), unique('moved-push')];
    try {
      await ensureSubscription(pubsub, { topic, name, pushEndpoint: 'http://127.0.0.1:9/old' });
      await ensureSubscription(pubsub, { topic, name, pushEndpoint: 'http://127.0.0.1:9/new' });
      expect((await pubsub.subscription(name).getMetadata())[0].pushConfig?.pushEndpoint).toBe('http://127.0.0.1:9/new');
      await ensureSubscription(pubsub, { topic, name, pushEndpoint: 'http://127.0.0.1:9/new' });
      expect((await pubsub.subscription(name).getMetadata())[0].pushConfig?.pushEndpoint).toBe('http://127.0.0.1:9/new');
    } finally {
      await pubsub
        .subscription(name)
        .delete()
        .catch(() => {});
      await pubsub
        .topic(topic)
        .delete()
        .catch(() => {});
      await pubsub.close();
    }
  });

  it('answers an async webhook with 202 and delivers it through the topic, push subscription and pubsub function with a valid ID token', async () => {
    stack = await startAsyncStack({
      metadata,
      env,
      targets: { svc: { config: { retry: fastRetry } } },
      routes: { gh: { verify: github, mode: 'async', forward: [{ target: 'svc', path: '/hooks' }] } },
    });
    const body = '{"ref":"refs/heads/main","emoji":"\u2603"}';
    const res = await postGithub(stack, 'gh?x=1', body, 'd-1');
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({
      accepted: true,
      idempotencyKey: 'd-1',
      deliveries: [{ target: 'svc', idempotencyKey: 'd-1:svc' }],
    });
    const target = stack.targets.svc!;
    await eventually(() => target.received.length === 1, 15_000, 'the target to receive the delivery');
    const [got] = target.received;
    expect(got!.body.toString()).toBe(body);
    expect(got!.path).toBe('/hooks?x=1');
    expect(got!.headers['idempotency-key']).toBe('d-1:svc');
    expect(got!.headers['x-github-event']).toBe('push');
    expect(got!.headers['x-hub-signature-256']).toBeUndefined();
    expect(got!.claims.aud).toBe(target.url);
    expect(target.rejected).toHaveLength(0);
  });

  it('fans out to three targets, parks the one that refuses, and delivers it on replay once it recovers', async () => {
    stack = await startAsyncStack({
      metadata,
      env,
      targets: { a: {}, b: {}, c: { behaviour: status(422), config: { retry: fastRetry } } },
      routes: {
        fan: { verify: github, mode: 'async', forward: [{ target: 'a' }, { target: 'b', path: '/b' }, { target: 'c', path: '/c' }] },
      },
    });
    const res = await postGithub(stack, 'fan', '{"n":1}', 'evt-7');
    expect(res.status).toBe(202);
    const { a, b, c } = stack.targets as Record<string, NonNullable<AsyncStack['targets'][string]>>;
    await eventually(
      () => a!.received.length === 1 && b!.received.length === 1 && c!.received.length >= 1,
      15_000,
      'all three targets to be called',
    );
    let parked: Awaited<ReturnType<typeof listDeadLetters>> = [];
    await eventually(
      async () => (parked = await listDeadLetters(stack!.deadLetters)).length === 1,
      15_000,
      'the refused delivery in the dead-letter topic',
    );
    expect(parked[0]).toMatchObject({ reason: 'target_rejected', status: 422, target: 'c', idempotencyKey: 'evt-7:c', attempts: 1 });
    // The healthy targets were delivered exactly once each, with their own keys.
    await new Promise((r) => setTimeout(r, 1500));
    expect(a!.received.map((r) => r.headers['idempotency-key'])).toEqual(['evt-7:a']);
    expect(b!.received.map((r) => r.headers['idempotency-key'])).toEqual(['evt-7:b']);
    expect(c!.received).toHaveLength(1);

    c!.setBehaviour(echo);
    const replay = await replayDeadLetters(stack.deadLetters, stack.runtime.publisher, { all: true, defaultTopic: stack.topics.delivery });
    expect(replay.replayed).toHaveLength(1);
    expect(replay.failed).toEqual([]);
    await eventually(() => c!.received.length === 2, 15_000, 'the replayed delivery to reach the recovered target');
    expect(c!.received[1]!.headers['idempotency-key']).toBe('evt-7:c');
    expect(c!.received[1]!.path).toBe('/c');
    expect(await listDeadLetters(stack.deadLetters)).toHaveLength(0);
  });

  it('lets Pub/Sub redeliver a retryable failure until the target comes back, with one idempotency key throughout', async () => {
    let failing = true;
    stack = await startAsyncStack({
      metadata,
      env,
      targets: { svc: { behaviour: (req, res) => (failing ? status(503)(req, res, 0) : echo(req, res, 0)), config: { retry: fastRetry } } },
      routes: { gh: { verify: github, mode: 'async', forward: [{ target: 'svc' }] } },
    });
    expect((await postGithub(stack, 'gh', '{}', 'retry-1')).status).toBe(202);
    const target = stack.targets.svc!;
    // fastRetry allows 2 attempts per push; 4+ calls prove Pub/Sub pushed it again.
    await eventually(() => target.received.length >= 4, 20_000, 'Pub/Sub to redeliver after the in-function retries ran out');
    failing = false;
    const before = target.received.length;
    await eventually(() => target.received.length > before, 20_000, 'a delivery after the target recovered');
    await new Promise((r) => setTimeout(r, 3000));
    // Delivered once it answered 200, and not pushed again after that.
    expect(target.received.length).toBe(before + 1);
    expect(new Set(target.received.map((r) => r.headers['idempotency-key']))).toEqual(new Set(['retry-1:svc']));
    expect(await listDeadLetters(stack.deadLetters)).toHaveLength(0);
  });

  it('relays plain messages of a mapped topic, attribute-only ones included, passing only allowlisted attributes as headers', async () => {
    const [topicName, subscriptionName] = [unique('orders-plain'), unique('orders-plain-push')];
    stack = await startAsyncStack({
      metadata,
      env,
      targets: { svc: {} },
      topics: {
        [topicName]: {
          forward: [{ target: 'svc', path: '/orders' }],
          attributeHeaders: ['x-order-kind', 'content-type'],
          subscriptions: [subscriptionName],
        },
      },
    });
    await stack.pushTopic(topicName, subscriptionName);
    const topic = stack.pubsub.topic(topicName);
    const withData = await topic.publishMessage({
      data: Buffer.from('{"id":1}'),
      attributes: { 'x-order-kind': 'new', 'content-type': 'application/json', secret: 'nope' },
    });
    const attributesOnly = await topic.publishMessage({ attributes: { 'x-order-kind': 'ping' } });
    const target = stack.targets.svc!;
    await eventually(() => target.received.length === 2, 15_000, 'both plain messages to be delivered');
    const byKey = new Map(target.received.map((r) => [r.headers['idempotency-key'], r]));
    const first = byKey.get(`${withData}:svc`)!;
    expect(first.body.toString()).toBe('{"id":1}');
    expect(first.headers['content-type']).toBe('application/json');
    expect(first.headers['x-order-kind']).toBe('new');
    expect(first.headers['secret']).toBeUndefined();
    const second = byKey.get(`${attributesOnly}:svc`)!;
    expect(second.body).toHaveLength(0);
    expect(second.headers['x-order-kind']).toBe('ping');
  });

  it('parks an envelope that fails its schema and one naming an unknown route, and acks them so they never loop', async () => {
    stack = await startAsyncStack({ metadata, env, targets: { svc: {} } });
    const topic = stack.pubsub.topic(stack.topics.delivery);
    await topic.publishMessage({ data: Buffer.from('{"v":2,"target":"svc"}') });
    await topic.publishMessage(envelopeMessage({ v: 1, route: 'nope', idempotencyKey: 'k-unknown' }));
    await topic.publishMessage(envelopeMessage({ v: 1, target: 'svc', body: 'hello', idempotencyKey: 'k-ok', path: '/direct' }));
    await eventually(() => stack!.targets.svc!.received.length === 1, 15_000, 'the valid envelope to be delivered');
    expect(stack.targets.svc!.received[0]!.headers['idempotency-key']).toBe('k-ok');
    let parked: Awaited<ReturnType<typeof listDeadLetters>> = [];
    await eventually(async () => (parked = await listDeadLetters(stack!.deadLetters)).length === 2, 15_000, 'two parked messages');
    expect(parked.map((p) => p.reason).sort()).toEqual(['invalid_envelope', 'unknown_route']);
    expect(parked.find((p) => p.reason === 'invalid_envelope')!.detail).toContain('v');
  });

  it('parks a 501, an envelope naming route __proto__ and one with a 100 KB path with relay-dl-* reasons, and delivers no consumer a publisher claims', async () => {
    stack = await startAsyncStack({
      metadata,
      env,
      targets: { svc: {}, unimpl: { behaviour: status(501), config: { retry: fastRetry } } },
    });
    const topic = stack.pubsub.topic(stack.topics.delivery);
    await topic.publishMessage(envelopeMessage({ v: 1, target: 'unimpl', idempotencyKey: 'k-501' }));
    await topic.publishMessage(envelopeMessage({ v: 1, route: '__proto__', idempotencyKey: 'k-proto' }));
    await topic.publishMessage(envelopeMessage({ v: 1, target: 'svc', path: '/' + 'p'.repeat(100_000), idempotencyKey: 'k-long' }));
    await topic.publishMessage(
      envelopeMessage({
        v: 1,
        target: 'svc',
        headers: { 'x-relay-consumer': 'admin', expect: '100-continue', 'x-ok': '1' },
        idempotencyKey: 'k-claim',
      }),
    );
    await eventually(() => stack!.targets.svc!.received.length === 1, 15_000, 'the claiming envelope to be delivered');
    const { headers } = stack.targets.svc!.received[0]!;
    expect([headers['x-relay-consumer'], headers['expect'], headers['x-ok'], headers['idempotency-key']]).toEqual([
      undefined,
      undefined,
      '1',
      'k-claim',
    ]);
    let parked: Awaited<ReturnType<typeof listDeadLetters>> = [];
    await eventually(async () => (parked = await listDeadLetters(stack!.deadLetters)).length === 3, 15_000, 'three parked messages');
    expect(parked.map((p) => [p.reason, p.status]).sort()).toEqual([
      ['request_not_sendable', undefined],
      ['target_rejected', 501],
      ['unknown_route', undefined],
    ]);
    // The 501 was sent once: not retried in the function, not redelivered by Pub/Sub.
    expect(stack.targets.unimpl!.received).toHaveLength(1);
  });
});

describe.runIf(emulator)('schedule and dead-letter commands on the Pub/Sub emulator', () => {
  async function withConfigFile(s: AsyncStack, schedules: Record<string, unknown>, routes: Record<string, unknown> = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'relay-cli-'));
    const path = join(dir, 'relay.config.json');
    const targets = Object.fromEntries(Object.entries(s.targets).map(([name, t]) => [name, { url: t.url }]));
    writeFileSync(
      path,
      JSON.stringify({
        projectId: PROJECT,
        targets,
        routes,
        schedules,
        pubsub: {
          deliveryTopic: s.topics.delivery,
          deadLetterTopic: s.topics.deadLetter,
          deadLetterSubscription: s.topics.deadLetterSubscription,
        },
      }),
    );
    return { ...process.env, RELAY_CONFIG: path, GITHUB_WEBHOOK_SECRET: SECRET };
  }
  async function cli(args: string[], cliEnv: NodeJS.ProcessEnv) {
    const lines: string[] = [];
    const code = await main(args, cliEnv, (line) => lines.push(line), { localState: () => undefined });
    return { code, text: lines.join('\n') };
  }

  it('publishes one tick of a route schedule that the pubsub function fans out to every target of the route', async () => {
    const routes = {
      fan: {
        verify: github,
        mode: 'async',
        forward: [
          { target: 'a', path: '/a' },
          { target: 'b', path: '/b' },
        ],
      },
    };
    // One config for the relay and the CLI, as in production: the tick names the schedule, the pubsub function resolves it.
    const schedules = { nightly: { cron: '0 3 * * *', timeZone: 'Europe/Paris', route: 'fan', body: '{"job":"nightly"}' } };
    stack = await startAsyncStack({ metadata, env, targets: { a: {}, b: {} }, routes, schedules });
    const cliEnv = await withConfigFile(stack, schedules, routes);
    const run = await cli(['schedule', 'run', 'nightly'], cliEnv);
    expect(run.code).toBe(0);
    expect(run.text).toContain('Published a tick of "nightly"');
    const { a, b } = stack.targets;
    await eventually(() => a!.received.length === 1 && b!.received.length === 1, 15_000, 'both targets to get the tick');
    expect(a!.received[0]!.body.toString()).toBe('{"job":"nightly"}');
    expect(a!.received[0]!.headers['x-relay-schedule']).toBe('nightly');
    expect(a!.received[0]!.path).toBe('/a');
    const keyA = String(a!.received[0]!.headers['idempotency-key']);
    expect(keyA).toMatch(/^schedule:nightly:manual:.+:a$/);
    expect(String(b!.received[0]!.headers['idempotency-key'])).toBe(keyA.replace(/:a$/, ':b'));
    expect((await cli(['schedule', 'run', 'missing'], cliEnv)).code).toBe(2);
  });

  it('lists and shows parked deliveries under the id the log names, and replays only the one asked for', async () => {
    const schedules = {
      toC: { cron: '* * * * *', forward: [{ target: 'c', path: '/c' }], body: '{"order":7}' },
      toD: { cron: '* * * * *', forward: [{ target: 'd' }] },
    };
    stack = await startAsyncStack({ metadata, env, targets: { c: { behaviour: status(409) }, d: { behaviour: status(400) } }, schedules });
    const cliEnv = await withConfigFile(stack, schedules);
    expect((await cli(['schedule', 'run', 'toC'], cliEnv)).code).toBe(0);
    expect((await cli(['schedule', 'run', 'toD'], cliEnv)).code).toBe(0);
    let listed = { code: 0, text: '' };
    await eventually(async () => (listed = await cli(['dlq', 'list'], cliEnv)).text.includes('2 parked'), 15_000, 'two parked deliveries');
    const rowC = listed.text.split('\n').find((l) => l.includes('\tc\t'))!;
    expect(rowC).toContain('target_rejected\t409');
    const idC = rowC.split('\t')[0]!;
    const shown = await cli(['dlq', 'show', idC], cliEnv);
    expect(JSON.parse(shown.text)).toMatchObject({
      id: idC,
      target: 'c',
      status: 409,
      reason: 'target_rejected',
      body: { order: 7 },
      envelope: { target: 'c', path: '/c' },
    });
    expect(shown.text).not.toContain('bodyBase64');
    // The log line names the same id, and `show` also takes the original message's id.
    const logged = stack.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.message === 'Message dead-lettered');
    const loggedC = logged.find((l) => l.target === 'c')!;
    expect(loggedC.deadLetterId).toBe(idC);
    const original = JSON.parse(shown.text).messageId as string;
    expect(original).not.toBe(idC);
    expect(JSON.parse((await cli(['dlq', 'show', original], cliEnv)).text).id).toBe(idC);

    stack.targets.c!.setBehaviour(echo);
    const replayed = await cli(['dlq', 'replay', idC], cliEnv);
    expect(replayed.text + ' code=' + replayed.code).toContain('code=0');
    expect(replayed.text).toContain('1 replayed, 0 failed, 1 other still parked');
    await eventually(() => stack!.targets.c!.received.length === 2, 15_000, 'the replayed delivery to reach c');
    expect(stack.targets.c!.received[1]!.path).toBe('/c');
    const after = await cli(['dlq', 'list', '--json'], cliEnv);
    const remaining = JSON.parse(after.text) as { target: string }[];
    expect(remaining.map((r) => r.target)).toEqual(['d']);
    expect(stack.targets.d!.received).toHaveLength(1);

    // Replaying the only parked message, which its target refuses again: it is parked anew, not "left parked".
    const idD = (remaining[0] as unknown as { id: string }).id;
    const again = await cli(['dlq', 'replay', idD], cliEnv);
    expect(again.text).toContain('1 replayed, 0 failed, 0 others still parked');
    await eventually(
      async () => {
        const list = JSON.parse((await cli(['dlq', 'list', '--json'], cliEnv)).text) as { id: string }[];
        return list.length === 1 && list[0]!.id !== idD;
      },
      15_000,
      'the refused replay to be parked again under a new id',
    );
  });
});

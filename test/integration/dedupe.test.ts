/**
 * Durable de-duplication against the real Firestore emulator: two relay
 * instances (separate runtimes, each with its own Firestore client, each on
 * its own Functions Framework server) share one store and one counting,
 * token-verifying target on loopback.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { installFrontDoor } from '../../functions/front-door.js';
import { createRuntime, type Runtime } from '../../functions/runtime.js';
import { webhookHandler } from '../../functions/webhook.js';
import { parseConfig } from '../../shared/config/load.js';
import { firestoreDedupeStore } from '../../shared/dedupe/firestore-store.js';
import { MemoryDedupeStore } from '../../shared/dedupe/memory-store.js';
import { webhookDoorPolicy } from '../../shared/door/policy.js';
import { replayAttributes } from '../../shared/delivery/dead-letter.js';
import { envelopeMessage } from '../../shared/envelope.js';
import type { Publisher } from '../../shared/pubsub/publisher.js';
import { sendJson } from '../emulators/http-util.js';
import type { MetadataServer } from '../emulators/metadata-server.js';
import { startPrivateTarget, type Behaviour, type PrivateTarget } from '../emulators/private-target.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../support/firestore-emulator.js';
import { recordingPublisher } from '../support/recording-publisher.js';
import { githubSignature } from '../support/sign.js';
import { useMetadataServer } from '../support/stack.js';

const SECRET = 'dedupe-github-secret-value';
let metadata: MetadataServer;
let emulator: FirestoreEmulator | undefined;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  emulator = await startFirestoreEmulator('durable de-duplication');
  metadata = await useMetadataServer();
}, 90_000);
afterAll(async () => {
  await metadata?.close();
  await emulator?.close();
});
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

interface Instance {
  url: string;
  runtime: Runtime;
  logs: string[];
}

let counter = 0;

/** One relay instance: its own runtime (and Firestore client) on its own framework server. */
async function instance(
  config: Record<string, unknown>,
  options: { publisher?: Publisher; dedupeStore?: MemoryDedupeStore } = {},
): Promise<Instance> {
  const loaded = parseConfig({ projectId: 'relay-test', ...config }, { GITHUB_WEBHOOK_SECRET: SECRET });
  const logs: string[] = [];
  const runtime = createRuntime({
    loaded,
    write: (line) => logs.push(line),
    publisher: options.publisher ?? recordingPublisher().publisher,
    dedupeStore: options.dedupeStore,
  });
  const name = `dedupe-${process.pid}-${++counter}`;
  http(name, webhookHandler(runtime.relay));
  const uninstall = installFrontDoor({ policy: webhookDoorPolicy(loaded.config) });
  const server: Server = getTestServer(name);
  uninstall();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, runtime, logs };
}

async function target(behaviour?: Behaviour): Promise<PrivateTarget> {
  const t = await startPrivateTarget({ keys: () => [metadata.key.jwk], behaviour });
  cleanup.push(() => t.close());
  return t;
}

/** A target that takes `ms` to answer 200 (so identical deliveries overlap). */
const slow =
  (ms: number): Behaviour =>
  async (_req, res) => {
    await new Promise((r) => setTimeout(r, ms));
    sendJson(res, 200, { ok: true });
  };

function postGithub(url: string, deliveryId: string, body = '{"action":"opened"}') {
  return fetch(`${url}/github`, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'issues',
      'x-github-delivery': deliveryId,
      'x-hub-signature-256': githubSignature(SECRET, body),
    },
  });
}

const githubRoute = (extra: Record<string, unknown> = {}) => ({
  verify: { scheme: 'github', secretEnv: 'GITHUB_WEBHOOK_SECRET' },
  forward: [{ target: 'svc', path: '/hooks' }],
  dedupe: { store: 'firestore', window: '1h' },
  ...extra,
});

describe('durable de-duplication on Firestore, two instances', () => {
  it('forwards concurrent identical sync deliveries on two instances once, and answers every one of them 200', async (ctx) => {
    if (!emulator) return ctx.skip();
    const svc = await target(slow(300));
    const config = { targets: { svc: { url: svc.url } }, routes: { github: githubRoute() } };
    const [a, b] = [await instance(config), await instance(config)];
    const id = randomUUID();
    const statuses = await Promise.all(Array.from({ length: 8 }, (_, i) => postGithub(i % 2 ? a.url : b.url, id).then((r) => r.status)));
    expect(statuses).toEqual(Array(8).fill(200));
    expect(svc.received.filter((r) => r.headers['idempotency-key'] === id)).toHaveLength(1);
    // Later retries, on either instance, are answered from the store.
    const later = await postGithub(b.url, id);
    expect(await later.json()).toEqual({ duplicate: true, deliveryId: id });
    expect(svc.received).toHaveLength(1);
  });

  it("releases the key when the target fails, so the sender's retry on the other instance goes through", async (ctx) => {
    if (!emulator) return ctx.skip();
    const svc = await target((_req, res, n) => sendJson(res, n === 1 ? 500 : 200, { n }));
    const config = { targets: { svc: { url: svc.url, retry: { retries: 0 } } }, routes: { github: githubRoute() } };
    const [a, b] = [await instance(config), await instance(config)];
    const id = randomUUID();
    expect((await postGithub(a.url, id)).status).toBe(500);
    expect((await postGithub(b.url, id)).status).toBe(200);
    expect((await postGithub(a.url, id)).status).toBe(200);
    expect(svc.received).toHaveLength(2);
  });

  it("publishes an async delivery once, however many instances the sender's retries land on", async (ctx) => {
    if (!emulator) return ctx.skip();
    const svc = await target();
    const shared = recordingPublisher();
    const config = { targets: { svc: { url: svc.url } }, routes: { github: githubRoute({ mode: 'async' }) } };
    const [a, b] = [await instance(config, { publisher: shared.publisher }), await instance(config, { publisher: shared.publisher })];
    const id = randomUUID();
    const answers = await Promise.all([a, b, a, b].map(async (i) => (await postGithub(i.url, id)).json()));
    // One is accepted (202); the rest are told it was already (200, as the in-memory replay memory answers).
    expect(answers.filter((x) => (x as { accepted?: boolean }).accepted)).toHaveLength(1);
    expect(answers.filter((x) => (x as { duplicate?: boolean }).duplicate)).toHaveLength(3);
    expect(shared.published).toHaveLength(1);
  });

  it('skips a Pub/Sub delivery already delivered: redeliveries, duplicate publishes and replays reach the target once', async (ctx) => {
    if (!emulator) return ctx.skip();
    const svc = await target(slow(200));
    const config = { targets: { svc: { url: svc.url, dedupe: { store: 'firestore', window: '1h' } } } };
    const [a, b] = [await instance(config), await instance(config)];
    const key = randomUUID();
    const message = (n: number) => ({ ...envelopeMessage({ v: 1, target: 'svc', body: '{}', idempotencyKey: key }), messageId: `m-${n}` });
    // Four copies at once on two instances: one delivers, the others are acked as duplicates or nacked while it is in flight.
    const first = await Promise.all(
      [0, 1, 2, 3].map((n) =>
        (n % 2 ? a : b).runtime.deliverer.handle(message(n)).then(
          (o) => o.kind,
          (e: { code?: string }) => e.code,
        ),
      ),
    );
    expect(first.filter((k) => k === 'delivered')).toHaveLength(1);
    expect(first.every((k) => ['delivered', 'duplicate', 'delivery_in_progress'].includes(k!))).toBe(true);
    // What Pub/Sub brings back later (the nacked ones, a replay) is acked without a call.
    const again = await Promise.all([4, 5].map((n) => (n % 2 ? a : b).runtime.deliverer.handle(message(n)).then((o) => o.kind)));
    expect(again).toEqual(['duplicate', 'duplicate']);
    expect(svc.received).toHaveLength(1);
  });

  it('keeps the key of a delivery parked as target_invalid_response: copies on either instance are acked, a `dlq replay` is sent', async (ctx) => {
    if (!emulator) return ctx.skip();
    // 200 with a body that is not the gzip it claims: the answer cannot be used, and the target may have acted.
    const svc = await target((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end('{"ok":true}');
    });
    const shared = recordingPublisher();
    const config = { targets: { svc: { url: svc.url, retry: { retries: 0 }, dedupe: { store: 'firestore', window: '1h' } } } };
    const [a, b] = [await instance(config, { publisher: shared.publisher }), await instance(config, { publisher: shared.publisher })];
    const key = randomUUID();
    const message = (n: number, attributes: Record<string, string> = {}) => ({
      ...envelopeMessage({ v: 1, target: 'svc', body: '{}', idempotencyKey: key }),
      attributes,
      messageId: `m-${n}`,
    });
    expect(await a.runtime.deliverer.handle(message(1))).toMatchObject({ kind: 'dead_lettered', reason: 'target_invalid_response' });
    expect(await b.runtime.deliverer.handle(message(2))).toMatchObject({ kind: 'duplicate', of: 'parked' });
    expect(svc.received).toHaveLength(1);
    const replay = {
      ...message(3, replayAttributes(shared.published[0]!.message.attributes ?? {}, new Date(Date.now() + 1_000))),
      data: shared.published[0]!.message.data,
    };
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await b.runtime.deliverer.handle(replay)).toMatchObject({ kind: 'dead_lettered', reason: 'target_invalid_response' });
    expect(await a.runtime.deliverer.handle({ ...replay, messageId: 'm-4' })).toMatchObject({ kind: 'duplicate', of: 'parked' });
    expect(svc.received).toHaveLength(2);
  });

  it('remembers an outcome reached without a reservation over a reservation that landed late', async (ctx) => {
    if (!emulator) return ctx.skip();
    const store = firestoreDedupeStore({
      projectId: 'relay-test',
      database: '(default)',
      collection: 'remember-test',
      emulatorHost: emulator.host,
    });
    cleanup.push(() => store.close());
    const key = randomUUID();
    const options = { leaseMs: 60_000, windowMs: 3_600_000 };
    // A reservation whose answer the relay gave up on still holds the key...
    expect((await store.reserve(key, options)).state).toBe('reserved');
    expect((await store.reserve(key, options)).state).toBe('in-flight');
    // ...until the call that went ahead without it records what it came to.
    await store.remember(key, 'delivered', options);
    expect((await store.reserve(key, options)).state).toBe('delivered');
  });

  it('delivers (and logs) when the store is down, by default; refuses with 503 and Retry-After when configured to', async (ctx) => {
    if (!emulator) return ctx.skip();
    const svc = await target();
    const down = new MemoryDedupeStore();
    down.failing = new Error('14 UNAVAILABLE: connection refused');
    const open = await instance({ targets: { svc: { url: svc.url } }, routes: { github: githubRoute() } }, { dedupeStore: down });
    expect((await postGithub(open.url, randomUUID())).status).toBe(200);
    expect(open.logs.some((l) => l.includes('delivering without de-duplication'))).toBe(true);
    const closed = await instance(
      { targets: { svc: { url: svc.url } }, routes: { github: githubRoute({ dedupe: { store: 'firestore', onStoreError: 'refuse' } }) } },
      { dedupeStore: down },
    );
    const refused = await postGithub(closed.url, randomUUID());
    expect([refused.status, refused.headers.get('retry-after')]).toEqual([503, '5']);
    expect(svc.received).toHaveLength(1);
  });
});

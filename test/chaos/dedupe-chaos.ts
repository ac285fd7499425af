/**
 * Deliveries per key with two relay instances (`npm run chaos -- --dedupe`).
 *
 * Two full stacks (webhook + pubsub function each, separate runtimes) share
 * three chaotic targets, the Pub/Sub emulator and the Firestore emulator.
 * Duplicates are made on purpose, every way they happen in production:
 * - every webhook is sent twice, once to each instance, with the same GitHub
 *   delivery id (a sender's retry landing elsewhere);
 * - every delivery topic is pushed to both instances (two push subscriptions:
 *   each message is delivered twice, concurrently);
 * - after the run, `replayShare` of the delivered keys are published again
 *   (a `dlq replay` or a publish that timed out but was stored).
 * With the store (`dedupe: { store: firestore }` on the route and targets)
 * every key must reach its target once; `--no-store` runs the same without it.
 */
import { randomUUID } from 'node:crypto';
import { readDeadLetter } from '../../shared/delivery/dead-letter.js';
import { envelopeMessage, parseEnvelope } from '../../shared/envelope.js';
import { startMetadataServer } from '../emulators/metadata-server.js';
import { startOutageProxy } from '../emulators/outage-proxy.js';
import { startAsyncStack, type AsyncStack } from '../support/async-stack.js';
import { startFirestoreEmulator } from '../support/firestore-emulator.js';
import { startPubSubEmulator } from '../support/pubsub-emulator.js';
import { githubSignature } from '../support/sign.js';
import { chaotic } from './chaotic.js';

export interface DedupeChaosOptions {
  webhooks?: number;
  store?: boolean;
  failureRate?: number;
  replayShare?: number;
  outageMs?: number;
  timeoutMs?: number;
  log?: (line: string) => void;
}

const SECRET = 'chaos-github-secret-value';

export async function runDedupeChaos(options: DedupeChaosOptions = {}) {
  const n = options.webhooks ?? 300;
  const store = options.store ?? true;
  const log = options.log ?? (() => {});
  const pubsubEmulator = await startPubSubEmulator('chaos --dedupe');
  const firestore = store ? await startFirestoreEmulator('chaos --dedupe') : undefined;
  if (!pubsubEmulator || (store && !firestore)) throw new Error('chaos --dedupe needs the Pub/Sub and Firestore emulators');
  const metadata = await startMetadataServer();
  process.env.GCE_METADATA_HOST = metadata.host;
  process.env.GOOGLE_CLOUD_PROJECT ??= 'relay-test';
  const proxy = await startOutageProxy();
  const stats = { failures: 0, calls: 0 };
  const delivered = new Map<string, number>();
  const retry = { retries: 2, minDelayMs: 50, maxDelayMs: 200 };
  const dedupe = store ? { dedupe: { store: 'firestore', window: '1h' } } : {};
  const route = { verify: { scheme: 'github', secretEnv: 'CHAOS_GITHUB_SECRET' }, mode: 'async', forward: [{ target: 'a' }, { target: 'b' }, { target: 'c' }], ...dedupe };
  const stacks: AsyncStack[] = [];
  const started = performance.now();
  try {
    const first = await startAsyncStack({
      metadata,
      env: { CHAOS_GITHUB_SECRET: SECRET },
      targets: {
        a: { behaviour: chaotic(options.failureRate ?? 0.3, stats, delivered), config: { retry, timeoutMs: 3000, ...dedupe } },
        b: { behaviour: chaotic(options.failureRate ?? 0.3, stats, delivered), config: { retry, timeoutMs: 3000, ...dedupe } },
        c: { behaviour: chaotic(options.failureRate ?? 0.3, stats, delivered), audience: 'https://c.chaos.internal', config: { url: proxy.url, retry, timeoutMs: 3000, ...dedupe } },
      },
      routes: { chaos: route },
      backoffSeconds: null,
      deliveryDeadlineMs: 10_000,
    });
    stacks.push(first);
    proxy.setUpstream(Number(new URL(first.targets.c!.url).port));
    // The second instance calls the first one's targets.
    const same = (name: 'a' | 'b') => ({ config: { url: first.targets[name]!.url, retry, timeoutMs: 3000, ...dedupe } });
    const second = await startAsyncStack({
      metadata,
      env: { CHAOS_GITHUB_SECRET: SECRET },
      targets: { a: same('a'), b: same('b'), c: { audience: 'https://c.chaos.internal', config: { url: proxy.url, retry, timeoutMs: 3000, ...dedupe } } },
      routes: { chaos: route },
      backoffSeconds: null,
      deliveryDeadlineMs: 10_000,
    });
    stacks.push(second);
    // Each delivery topic pushed to both instances.
    await second.pushTopic(first.topics.delivery, `${first.topics.delivery}-other`);
    await first.pushTopic(second.topics.delivery, `${second.topics.delivery}-other`);

    const outage = (async () => {
      await new Promise((r) => setTimeout(r, 1000));
      await proxy.down();
      log(`target c down for ${options.outageMs ?? 5000} ms`);
      await new Promise((r) => setTimeout(r, options.outageMs ?? 5000));
      await proxy.up();
      log('target c back up');
    })();

    const run = randomUUID().slice(0, 8);
    const expected = new Set<string>();
    let accepted = 0;
    let next = 0;
    const post = async (stack: AsyncStack, i: number) => {
      const body = JSON.stringify({ i });
      const res = await fetch(`${stack.webhookUrl}/chaos`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': `chaos-${run}-${i}`, 'x-hub-signature-256': githubSignature(SECRET, body) },
      });
      const answer = (await res.json()) as { deliveries?: { idempotencyKey: string }[] };
      return { ok: res.status >= 200 && res.status < 300, keys: (answer.deliveries ?? []).map((d) => d.idempotencyKey) };
    };
    const send = async () => {
      while (next < n) {
        const i = next++;
        // The sender's "retry" lands on the other instance, at the same time.
        const answers = await Promise.all([post(first, i), post(second, i)]);
        if (answers.some((a) => a.ok)) accepted++;
        for (const a of answers) for (const k of a.keys) expected.add(k);
      }
    };
    await Promise.all(Array.from({ length: 10 }, send));
    log(`${accepted} of ${n} webhooks accepted (each sent to both instances) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await outage;

    const dead = new Set<string>();
    const drain = async () => {
      for (const s of stacks) {
        const parked = await s.deadLetters.pull(500);
        for (const m of parked) {
          try {
            dead.add(parseEnvelope(m.data).idempotencyKey ?? readDeadLetter(m.attributes).messageId);
          } catch {
            dead.add(`unparseable:${m.messageId}`);
          }
        }
        await s.deadLetters.ack(parked.map((m) => m.ackId));
      }
    };
    const settled = () => [...expected].filter((k) => delivered.has(k) || dead.has(k)).length;
    const until = Date.now() + (options.timeoutMs ?? 240_000);
    let lastReport = 0;
    while (settled() < expected.size && Date.now() < until) {
      await drain();
      await new Promise((r) => setTimeout(r, 250));
      if (Date.now() - lastReport > 5000) {
        lastReport = Date.now();
        log(`settled ${settled()}/${expected.size} (delivered ${delivered.size}, dead-lettered ${dead.size})`);
      }
    }
    // Replays of already-delivered keys: what `dlq replay` or a stored-but-timed-out publish sends again.
    const replayed = [...expected].filter((k) => delivered.has(k)).filter((_, i) => i % Math.round(1 / (options.replayShare ?? 0.05)) === 0);
    await Promise.all(
      replayed.map((key) => {
        const target = key.split(':').at(-1)!;
        return first.pubsub.topic(first.topics.delivery).publishMessage(envelopeMessage({ v: 1, target, body: '{"replay":true}', idempotencyKey: key, origin: { kind: 'replay' } }));
      }),
    );
    log(`replayed ${replayed.length} delivered keys`);
    await new Promise((r) => setTimeout(r, 5000));
    await drain();
    const deliveredKeys = [...expected].filter((k) => delivered.has(k));
    const deadKeys = [...expected].filter((k) => dead.has(k) && !delivered.has(k));
    const storeErrors = stacks.flatMap((s) => s.logs).filter((l) => l.includes('De-duplication store unavailable')).length;
    return {
      store,
      webhooksSent: n * 2,
      accepted,
      expectedDeliveries: expected.size,
      delivered: deliveredKeys.length,
      deadLettered: deadKeys.length,
      lost: expected.size - deliveredKeys.length - deadKeys.length,
      keysDeliveredTwice: [...delivered.values()].filter((c) => c > 1).length,
      duplicateDeliveries: [...delivered.values()].reduce((sum, c) => sum + c - 1, 0),
      replayed: replayed.length,
      storeErrors,
      targetCalls: stats.calls,
      injectedFailures: stats.failures,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    };
  } finally {
    for (const s of stacks.reverse()) await s.close();
    await proxy.close();
    await metadata.close();
    await firestore?.close();
    await pubsubEmulator.close();
  }
}

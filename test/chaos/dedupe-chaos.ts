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
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDeadLetter } from '../../shared/delivery/dead-letter.js';
import { envelopeMessage, parseEnvelope } from '../../shared/envelope.js';
import { startMetadataServer } from '../emulators/metadata-server.js';
import { startOutageProxy } from '../emulators/outage-proxy.js';
import { startAsyncStack, type AsyncStack } from '../support/async-stack.js';
import { startFirestoreEmulator } from '../support/firestore-emulator.js';
import { startPubSubEmulator } from '../support/pubsub-emulator.js';
import { githubSignature } from '../support/sign.js';
import { chaotic, type TargetCall } from './chaotic.js';
import { classifyTwice, type LogLine } from './twice.js';

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
  // Every call as the targets saw it, per key: the evidence for a key delivered twice.
  const calls = new Map<string, TargetCall[]>();
  const trace = (call: TargetCall) => calls.set(call.key, [...(calls.get(call.key) ?? []), call]);
  const retry = { retries: 2, minDelayMs: 50, maxDelayMs: 200 };
  const dedupe = store ? { dedupe: { store: 'firestore', window: '1h' } } : {};
  const route = {
    verify: { scheme: 'github', secretEnv: 'CHAOS_GITHUB_SECRET' },
    mode: 'async',
    forward: [{ target: 'a' }, { target: 'b' }, { target: 'c' }],
    ...dedupe,
  };
  const stacks: AsyncStack[] = [];
  const started = performance.now();
  try {
    const first = await startAsyncStack({
      metadata,
      env: { CHAOS_GITHUB_SECRET: SECRET },
      targets: {
        a: { behaviour: chaotic(options.failureRate ?? 0.3, stats, delivered, trace), config: { retry, timeoutMs: 3000, ...dedupe } },
        b: { behaviour: chaotic(options.failureRate ?? 0.3, stats, delivered, trace), config: { retry, timeoutMs: 3000, ...dedupe } },
        c: {
          behaviour: chaotic(options.failureRate ?? 0.3, stats, delivered, trace),
          audience: 'https://c.chaos.internal',
          config: { url: proxy.url, retry, timeoutMs: 3000, ...dedupe },
        },
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
      targets: {
        a: same('a'),
        b: same('b'),
        c: { audience: 'https://c.chaos.internal', config: { url: proxy.url, retry, timeoutMs: 3000, ...dedupe } },
      },
      routes: { chaos: route },
      backoffSeconds: null,
      deliveryDeadlineMs: 10_000,
    });
    stacks.push(second);
    // Each delivery topic pushed to both instances.
    await second.pushTopic(first.topics.delivery, `${first.topics.delivery}-other`);
    await first.pushTopic(second.topics.delivery, `${second.topics.delivery}-other`);

    const outageAt: { down?: string; up?: string } = {};
    const outage = (async () => {
      // 1 s into the deliveries, not into the run: the first reservations wait for Firestore's first answers (5-10 s
      // on a busy machine), and an outage over before the first call would test nothing.
      for (const until = Date.now() + 30_000; stats.calls === 0 && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 1000));
      outageAt.down = new Date().toISOString();
      await proxy.down();
      log(`target c down for ${options.outageMs ?? 5000} ms`);
      await new Promise((r) => setTimeout(r, options.outageMs ?? 5000));
      await proxy.up();
      outageAt.up = new Date().toISOString();
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
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'push',
          'x-github-delivery': `chaos-${run}-${i}`,
          'x-hub-signature-256': githubSignature(SECRET, body),
        },
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
    const replayed = [...expected]
      .filter((k) => delivered.has(k))
      .filter((_, i) => i % Math.round(1 / (options.replayShare ?? 0.05)) === 0);
    await Promise.all(
      replayed.map((key) => {
        const target = key.split(':').at(-1)!;
        return first.pubsub
          .topic(first.topics.delivery)
          .publishMessage(envelopeMessage({ v: 1, target, body: '{"replay":true}', idempotencyKey: key, origin: { kind: 'replay' } }));
      }),
    );
    log(`replayed ${replayed.length} delivered keys`);
    await new Promise((r) => setTimeout(r, 5000));
    await drain();
    const deliveredKeys = [...expected].filter((k) => delivered.has(k));
    const deadKeys = [...expected].filter((k) => dead.has(k) && !delivered.has(k));
    const logs = stacks.flatMap((s) => s.logs);
    // CHAOS_DEBUG=1 keeps every relay line (instance number added) for reading afterwards.
    const logFile = process.env.CHAOS_DEBUG === '1' ? join(tmpdir(), `chaos-dedupe-${run}.ndjson`) : undefined;
    if (logFile) {
      const relayLines = stacks.flatMap((s, i) => s.logs.map((l) => `{"instance":${i + 1},${l.slice(1)}`));
      const targetLines = [...calls.values()].flat().map((c) =>
        JSON.stringify({
          instance: 'target',
          message: 'Target call',
          target: c.key.split(':').at(-1),
          idempotencyKey: c.key,
          answer: c.answer,
          time: new Date(c.at).toISOString(),
        }),
      );
      await writeFile(
        logFile,
        [...relayLines, ...targetLines, JSON.stringify({ instance: 'harness', message: 'Outage', ...outageAt })].join('\n') + '\n',
      );
    }
    const storeErrors = logs.filter((l) => l.includes('De-duplication store unavailable')).length;
    // Each key the target answered 200 more than once, classified by what the relay could know (see twice.ts);
    // the first ten with their evidence (CHAOS_DEBUG=1 adds the lines). Without the store that is most keys.
    const parsed: LogLine[] = logs.map((l) => JSON.parse(l) as LogLine);
    const reports = [...delivered].filter(([, c]) => c > 1).map(([key]) => classifyTwice(key, calls.get(key) ?? [], parsed));
    const twice = reports
      .slice(0, 10)
      .map((r) => ({ ...r, ...explainTwice(r.key, calls.get(r.key) ?? [], stacks, process.env.CHAOS_DEBUG === '1') }));
    const verdicts = (v: string) => reports.filter((r) => r.verdict === v).length;
    return {
      store,
      webhooksSent: n * 2,
      accepted,
      expectedDeliveries: expected.size,
      delivered: deliveredKeys.length,
      deadLettered: deadKeys.length,
      lost: expected.size - deliveredKeys.length - deadKeys.length,
      // Keys the target answered 200 more than once, and of those: the relay delivered again after it had seen a
      // 2xx (a fault), the target's earlier 200 never reached the relay (reset or timeout: at-least-once), neither.
      keysDeliveredTwice: reports.length,
      keysRelayDeliveredTwice: verdicts('relay-forwarded-again'),
      keysTwiceAnswerLost: verdicts('answer-lost'),
      keysTwiceUnexplained: verdicts('unexplained'),
      duplicateDeliveries: [...delivered.values()].reduce((sum, c) => sum + c - 1, 0),
      replayed: replayed.length,
      storeErrors,
      attemptTimeouts: logs.filter((l) => l.includes('no answer within')).length,
      twice,
      ...(logFile ? { logFile } : {}),
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

/**
 * The evidence for a key its target answered 200 more than once: the target's calls and, per instance, the
 * relay's log lines about that key (and its event's acceptance lines), in time order.
 */
function explainTwice(key: string, calls: readonly TargetCall[], stacks: readonly AsyncStack[], withLines: boolean): { lines?: string[] } {
  const target = key.split(':').at(-1)!;
  const eventKey = key.slice(0, key.length - target.length - 1);
  const lines = stacks.flatMap((s, i) =>
    s.logs
      .filter((l) => l.includes(eventKey))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      // Lines of this key, and of its event before the fan-out; not the event's other targets.
      .filter((j) =>
        j.idempotencyKey === undefined ? JSON.stringify(j).includes(key) : j.idempotencyKey === key || j.idempotencyKey === eventKey,
      )
      .map((j) => {
        const { time, message, ...rest } = j as Record<string, unknown> & { time: string; message: string };
        delete rest.severity;
        return { at: Date.parse(time), text: `${time} #${i + 1} ${message} ${JSON.stringify(rest)}` };
      }),
  );
  const targetLines = calls.map((c) => ({ at: c.at, text: `${new Date(c.at).toISOString()} target ${target} answered ${c.answer}` }));
  return withLines ? { lines: [...lines, ...targetLines].sort((a, b) => a.at - b.at).map((l) => l.text) } : {};
}

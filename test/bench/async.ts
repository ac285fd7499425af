/**
 * Figures for async delivery, on loopback with the real Pub/Sub emulator,
 * every server in its own process as in the spine:
 * - accepted webhooks per second of an async route (verify → publish → 202)
 *   of the built `webhook` function, against (b2), the framework
 *   pass-through on node:http forwarding to the trivial target, in
 *   alternating rounds at concurrency 32, so the figure is a ratio (while
 *   the relay is measured the emulator holds its messages: push is paused,
 *   then resumed and drained before the next round, as a `pubsub` function
 *   on other instances would not share the webhook's cores);
 * - acceptance → delivery latency (p50, p99): from the sender getting 202 to
 *   the token-verifying target receiving the call, through the topic, the
 *   emulator's push and the built `pubsub` function.
 *
 * Counted at the target (issue 11: a figure counts only when the far end saw
 * the work): every GitHub-signed webhook carries a fresh delivery id; the
 * idempotency key of every 202 answer is collected; the verifying target
 * records every key it accepted with a valid ID token. At the end the two
 * sets must be equal (`assertDelivered` in counts.ts), or the section fails
 * without figures; keys received more than once (Pub/Sub is at-least-once)
 * are reported as a figure. (b2)'s rounds are checked like the spine's
 * (answered = accepted at the trivial target).
 *
 * Run alone: `npx tsx test/bench/async.ts [bench options]` (after `npm run build`).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { PubSub } from '@google-cloud/pubsub';
import { ensureSubscription, ensureTopic, pushEndpointFor } from '../../shared/pubsub/admin.js';
import { openPubSub } from '../../shared/pubsub/publisher.js';
import { startMetadataServer, type MetadataServer } from '../emulators/metadata-server.js';
import { startPubSubEmulator, type PubSubEmulator } from '../support/pubsub-emulator.js';
import { parseArgs } from './args.js';
import { assertDelivered, assertHonest, countsBetween, readCounts, readKeys, type DeliveryFigures, type RoundTally } from './counts.js';
import { sampleDelivery, type SampleDelivery } from './delivery.js';
import { runLoad } from './load.js';
import { procCpuMs, startOnFreePort, type ServerProcess } from './processes.js';
import type { BenchContext, BenchSection, SectionResult } from './section.js';
import { compilePassthrough, FRAMEWORK_MAIN, WEBHOOK_SECRET } from './stack.js';
import { fmt, median, percentile, summarize } from './stats.js';

const PROJECT = 'relay-test';
const TSX = ['--import', 'tsx'];
/** The concurrency the throughput rounds run at (issue 11's "concurrency 32"). */
export const ASYNC_CONCURRENCY = 32;
/** The unmeasured (but counted) round each variant gets first. */
const WARM_UP_MS = 1_500;

export interface AsyncBenchFigures {
  concurrency: number;
  rounds: number;
  /** Accepted (202) webhooks per second, median of the rounds. */
  asyncAcceptedPerSecond: number;
  /** (b2) answered (and reached its target) per second, median of the rounds. */
  passthroughPerSecond: number;
  /** Median over the rounds of (relay ÷ (b2)) in the same round: a round pair shares the machine's state, so this holds up better than a ratio of medians. */
  ratio: number;
  /** relay ÷ (b2), round by round. */
  ratioPerRound: number[];
  /** Every round's figure, in order, for the spread. */
  perRound: { relay: number[]; passthrough: number[] };
  /** CPU per request of the process in the middle (the webhook function, (b2)), median of the rounds, µs. */
  cpuUsPerRequest: { relay?: number; passthrough?: number };
  /** The emulator's (Java) CPU per accepted webhook during the relay rounds, µs: the share of the machine the relay's publishes take that (b2) does not need. */
  emulatorCpuUsPerAccepted?: number;
  /** The sender's latency to the answer (202 / 200) in the throughput rounds, ms. */
  answerMs: { relay: { p50: number; p99: number }; passthrough: { p50: number; p99: number } };
  /** After each relay round: time until the target had every key accepted so far, ms. */
  drainMs: number[];
  /** Accepted → delivered, ms, over the latency phase's webhooks (first arrival of each key). */
  acceptToDeliveryMs: { p50: number; p99: number; max: number; samples: number };
  /** The key check over the whole section (warm-up, rounds, latency phase). */
  counts: DeliveryFigures & { passthroughAnswered: number; passthroughReached: number };
  wallMs: number;
}

export interface AsyncBenchOptions {
  rounds: number;
  durationMs: number;
  warmupMs: number;
  /** Webhooks for the latency figure, sent 4 at a time. */
  latencyRequests: number;
  /** Longest wait for the target to receive every accepted key (each round, and at the end). */
  drainTimeoutMs?: number;
}

interface AsyncStack {
  emulator: PubSubEmulator;
  /** The emulator's Java process, for its CPU time (undefined when not found, e.g. off Linux or a shared emulator). */
  emulatorPid?: number;
  metadata: MetadataServer;
  pubsub: PubSub;
  trivial: ServerProcess;
  verifying: ServerProcess;
  passthroughHttp: ServerProcess;
  webhook: ServerProcess;
  deliverer: ServerProcess;
  /** Stops (false) or resumes (true) the emulator's push to the `pubsub` function; messages wait in the subscription meanwhile. */
  push(on: boolean): Promise<void>;
  close(): Promise<void>;
}

async function startAsyncBenchStack(root: string, workDir: string, progress: (m: string) => void): Promise<AsyncStack> {
  const emulator = await startPubSubEmulator('bench (test/bench/async.ts)');
  if (!emulator) throw new Error('The async benchmark needs the Pub/Sub emulator');
  const started: ServerProcess[] = [];
  const metadata = await startMetadataServer();
  let pubsub: PubSub | undefined;
  const start = async (name: string, args: string[], env: Record<string, string> = {}) => {
    const server = await startOnFreePort(name, args, { env, cwd: root, logFile: join(workDir, `async-${name.replace(/\W+/g, '-')}.log`) });
    started.push(server);
    return server;
  };
  const close = async () => {
    await Promise.all(started.map((s) => s.stop()));
    await pubsub?.close().catch(() => {});
    await metadata.close();
    await emulator.close();
  };
  try {
    progress('async: starting targets, (b2), the webhook and pubsub functions ...');
    const trivial = await start('trivial-target', [...TSX, 'test/bench/servers/trivial-target.ts']);
    const verifying = await start('verifying-target', [...TSX, 'test/bench/servers/verifying-target.ts'], {
      JWKS_URL: metadata.jwksUrl,
      RECORD_KEYS: '1',
    });
    const passthroughFile = compilePassthrough(root);
    const passthroughHttp = await start(
      'passthrough-http-function',
      [FRAMEWORK_MAIN, '--target=passthrough-http', `--source=${passthroughFile}`, '--port={port}'],
      { UPSTREAM: trivial.url },
    );

    const n = `${process.pid}-${Date.now() % 1_000_000}`;
    const topics = {
      deliveryTopic: `bench-deliveries-${n}`,
      deadLetterTopic: `bench-dead-letters-${n}`,
      deadLetterSubscription: `bench-dead-letters-inbox-${n}`,
    };
    const configPath = join(workDir, 'async-relay.config.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        projectId: PROJECT,
        targets: { svc: { url: verifying.url } },
        routes: {
          github: {
            verify: { scheme: 'github', secretEnv: 'GITHUB_WEBHOOK_SECRET' },
            mode: 'async',
            forward: [{ target: 'svc', path: '/hooks/github' }],
          },
        },
        pubsub: { ...topics, deliveryDeadlineMs: 20_000 },
      }),
    );
    const relayEnv = {
      RELAY_CONFIG: configPath,
      GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      GCE_METADATA_HOST: metadata.host,
      GOOGLE_CLOUD_PROJECT: PROJECT,
      PUBSUB_EMULATOR_HOST: emulator.host,
    };
    const relayArgs = (target: string) => [FRAMEWORK_MAIN, `--target=${target}`, '--source=dist/functions/index.js', '--port={port}'];
    const deliverer = await start(
      'relay-pubsub',
      [...TSX, '--import', './test/bench/servers/long-keep-alive.ts', ...relayArgs('pubsub'), '--signature-type=cloudevent'],
      relayEnv,
    );
    pubsub = await openPubSub({ projectId: PROJECT, emulatorHost: emulator.host });
    const pushEndpoint = pushEndpointFor(deliverer.url, PROJECT, topics.deliveryTopic);
    const subscription = pubsub.subscription(`${topics.deliveryTopic}-push`);
    const push = async (on: boolean) => {
      await subscription.modifyPushConfig(on ? { pushEndpoint } : {});
    };
    await ensureSubscription(pubsub, {
      topic: topics.deliveryTopic,
      name: `${topics.deliveryTopic}-push`,
      pushEndpoint,
      ackDeadlineSeconds: 30,
      minBackoffSeconds: 1,
      maxBackoffSeconds: 2,
    });
    await ensureTopic(pubsub, topics.deadLetterTopic);
    await ensureSubscription(pubsub, { topic: topics.deadLetterTopic, name: topics.deadLetterSubscription });
    const webhook = await start('relay-webhook', relayArgs('webhook'), relayEnv);
    return {
      emulator,
      emulatorPid: emulatorPid(emulator.host),
      metadata,
      pubsub,
      trivial,
      verifying,
      passthroughHttp,
      webhook,
      deliverer,
      push,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The pid of the emulator's Java process listening on `host` (gcloud starts it underneath), found by its command line. */
function emulatorPid(host: string): number | undefined {
  const port = host.split(':').pop();
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        if (cmd.some((a) => a.includes('pubsub-emulator')) && cmd.includes(`--port=${port}`)) return Number(entry);
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    // no /proc
  }
  return undefined;
}

/** The idempotency keys a 202 answer names; throws (the load generator counts a failed request) on anything else. */
export function acceptedKeys(status: number, body: Buffer, deliveryId: string | undefined): string[] {
  if (status !== 202) throw new Error(`the async route answered ${status}, not 202: ${body.toString('utf8').slice(0, 200)}`);
  const answer = JSON.parse(body.toString('utf8')) as { idempotencyKey?: string; deliveries?: { idempotencyKey?: string }[] };
  if (deliveryId !== undefined && answer.idempotencyKey !== deliveryId)
    throw new Error(`202 for delivery ${deliveryId} names event ${String(answer.idempotencyKey)}`);
  const keys = (answer.deliveries ?? []).map((d) => d.idempotencyKey);
  if (keys.length !== 1 || keys.some((k) => typeof k !== 'string' || !k))
    throw new Error(`202 without one delivery key: ${body.toString('utf8').slice(0, 200)}`);
  return keys as string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls the target's counts until it holds `want` distinct keys or `timeoutMs` passes; resolves with the time waited and whether it got there. */
async function drain(targetUrl: string, want: number, timeoutMs: number): Promise<{ ms: number; complete: boolean }> {
  const t0 = performance.now();
  for (const until = Date.now() + timeoutMs; Date.now() < until; await sleep(50)) {
    const c = await readCounts(targetUrl);
    if (c.keyed - c.duplicateKeys >= want) return { ms: performance.now() - t0, complete: true };
  }
  return { ms: performance.now() - t0, complete: false };
}

async function post(url: string, delivery: SampleDelivery): Promise<{ status: number; body: Buffer; deliveryId: string }> {
  const headers = delivery.headers();
  const res = await fetch(url, { method: 'POST', headers, body: delivery.body });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), deliveryId: headers['x-github-delivery']! };
}

async function pool(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

/** Measures the async figures; starts the emulator (unless PUBSUB_EMULATOR_HOST is set) and every process itself. */
export async function benchAsync(context: BenchContext, options: AsyncBenchOptions): Promise<AsyncBenchFigures> {
  const wall = performance.now();
  const drainTimeoutMs = options.drainTimeoutMs ?? 120_000;
  const stack = await startAsyncBenchStack(context.root, context.workDir, context.progress);
  try {
    const delivery = sampleDelivery(WEBHOOK_SECRET);
    const relayUrl = `${stack.webhook.url}/github`;
    const b2Url = `${stack.passthroughHttp.url}/hooks/github`;
    const target = stack.verifying.url;
    // Every key the relay answered 202 for, in answer order, and every failed relay request.
    const accepted: string[] = [];
    let relayErrors = 0;
    // The start-up probe (GET /, no token) was refused: count from here.
    const targetBefore = await readCounts(target);
    // The key check on what has happened so far; throws CountMismatchError when the sets differ.
    const check = async () => {
      const received = await readKeys(target);
      const refused = countsBetween(targetBefore, await readCounts(target)).refused;
      return {
        received,
        figures: assertDelivered({
          what: 'async route (webhook → Pub/Sub emulator → pubsub → target)',
          accepted,
          errors: relayErrors,
          received,
          refused,
        }),
      };
    };
    const collect = (status: number, body: Buffer, sent: Record<string, string>) =>
      accepted.push(...acceptedKeys(status, body, sent['x-github-delivery']));

    // Sanity: a bad signature is refused (and publishes nothing); a good one is accepted; (b2) reaches its target.
    const bad = await fetch(relayUrl, {
      method: 'POST',
      headers: { ...delivery.headers(), 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` },
      body: delivery.body,
    });
    if (bad.status !== 401) throw new Error(`Sanity check failed: the async route answered ${bad.status} to a bad signature, expected 401`);
    const first = await post(relayUrl, delivery);
    accepted.push(...acceptedKeys(first.status, first.body, first.deliveryId));
    const b2Check = await fetch(b2Url, { method: 'POST', headers: delivery.headers(), body: delivery.body });
    if (b2Check.status !== 200) throw new Error(`Sanity check failed: (b2) answered ${b2Check.status}`);
    await b2Check.arrayBuffer();
    if (!(await drain(target, 1, 60_000)).complete)
      throw new Error('Sanity check failed: the first accepted webhook did not reach the target within 60 s');

    const relayRps: number[] = [];
    const b2Rps: number[] = [];
    const relayCpu: number[] = [];
    const emulatorCpu: number[] = [];
    const b2Cpu: number[] = [];
    const relayLat: number[] = [];
    const b2Lat: number[] = [];
    const drainMs: number[] = [];
    const b2Tallies: RoundTally[] = [];
    const round = async (which: 'relay' | 'b2', r: number, measured = true) => {
      const label = measured ? `round ${r + 1}` : 'warm-up';
      const server = which === 'relay' ? stack.webhook : stack.passthroughHttp;
      const before = which === 'b2' ? await readCounts(stack.trivial.url) : undefined;
      let cpuStart: number | undefined;
      let cpuEnd: number | undefined;
      let emStart: number | undefined;
      let emEnd: number | undefined;
      const emCpu = () => (stack.emulatorPid === undefined ? undefined : procCpuMs(stack.emulatorPid));
      // The relay's messages wait in the subscription while it is measured, as they would for a pubsub function on
      // other instances: the deliveries (emulator push, pubsub function, target) do not share these two cores with it.
      if (which === 'relay') await stack.push(false);
      const result = await runLoad({
        url: which === 'relay' ? relayUrl : b2Url,
        headers: delivery.headers,
        body: delivery.body,
        concurrency: ASYNC_CONCURRENCY,
        durationMs: measured ? options.durationMs : WARM_UP_MS,
        warmupMs: measured ? options.warmupMs : 0,
        onWindow: (edge) => {
          if (edge === 'start') [cpuStart, emStart] = [server.cpuMs(), emCpu()];
          else [cpuEnd, emEnd] = [server.cpuMs(), emCpu()];
        },
        // Both variants read and hand over every answer body, so the load generator does the same work for each.
        onAnswer: which === 'relay' ? collect : () => {},
      });
      const cpu =
        cpuStart !== undefined && cpuEnd !== undefined && result.requests > 0 ? ((cpuEnd - cpuStart) * 1000) / result.requests : undefined;
      const lat = summarize(result.latencies);
      if (which === 'relay') {
        relayErrors += result.errors;
        if (result.errors > 0) throw new Error(`async route, ${label}: ${result.errors} requests failed (first: ${result.firstError})`);
        if (measured) {
          relayRps.push(result.rps);
          if (cpu !== undefined) relayCpu.push(cpu);
          if (emStart !== undefined && emEnd !== undefined && result.requests > 0)
            emulatorCpu.push(((emEnd - emStart) * 1000) / result.requests);
          relayLat.push(lat.p50, lat.p99);
        }
        // Then let the backlog drain before the next round, so neither variant is measured beside the deliveries.
        await stack.push(true);
        context.progress(`async: ${label}, waiting for ${accepted.length} keys at the target ...`);
        const drained = await drain(target, new Set(accepted).size, drainTimeoutMs);
        // A key still missing after the bounded wait fails the run now, rather than after every later round's wait.
        if (!drained.complete) await check();
        if (measured) drainMs.push(drained.ms);
      } else {
        const tally: RoundTally = {
          what: `(b2) framework pass-through, node:http, ${label}`,
          answered: result.completed,
          errors: result.errors,
          reached: countsBetween(before!, await readCounts(stack.trivial.url)),
        };
        assertHonest([tally]);
        b2Tallies.push(tally);
        if (!measured) return;
        b2Rps.push(result.rps);
        if (cpu !== undefined) b2Cpu.push(cpu);
        b2Lat.push(lat.p50, lat.p99);
      }
    };
    // Warm both processes up (JIT, connections, the publisher's gRPC channel) with an unmeasured round each; still counted.
    context.progress(`async: warming up both variants, ${WARM_UP_MS} ms each ...`);
    for (const which of ['relay', 'b2'] as const) await round(which, -1, false);
    for (let r = 0; r < options.rounds; r++) {
      // Alternate which goes first, so drift (heat, GC, the emulator's own work) favours neither.
      for (const which of r % 2 === 0 ? (['relay', 'b2'] as const) : (['b2', 'relay'] as const)) {
        context.progress(
          `async: round ${r + 1}/${options.rounds}, ${which === 'relay' ? 'async route' : '(b2)'}, concurrency ${ASYNC_CONCURRENCY}`,
        );
        await round(which, r);
      }
    }

    // Latency at a steady, modest rate (4 senders), after the backlog has drained.
    context.progress(`async: acceptance → delivery latency, ${options.latencyRequests} webhooks, 4 at a time ...`);
    const acceptedAt = new Map<string, number>();
    await pool(options.latencyRequests, 4, async () => {
      const answer = await post(relayUrl, delivery).catch((error: Error) => ({
        status: 0,
        body: Buffer.from(error.message),
        deliveryId: '',
      }));
      const at = Date.now();
      try {
        for (const key of acceptedKeys(answer.status, answer.body, answer.deliveryId)) {
          accepted.push(key);
          acceptedAt.set(key, at);
        }
      } catch {
        relayErrors++;
      }
    });
    context.progress(
      `async: waiting (at most ${drainTimeoutMs / 1000} s) until the target has all ${new Set(accepted).size} accepted keys ...`,
    );
    await drain(target, new Set(accepted).size, drainTimeoutMs);
    // A short grace for redeliveries already under way, so duplicates are counted rather than missed.
    await sleep(1_000);
    const { received, figures } = await check();

    const latencies = [...acceptedAt].map(([key, at]) => received[key]![0]! - at);
    const lat = summarize(latencies);
    const ratioPerRound = relayRps.map((x, i) => x / b2Rps[i]!);
    return {
      concurrency: ASYNC_CONCURRENCY,
      rounds: options.rounds,
      asyncAcceptedPerSecond: median(relayRps),
      passthroughPerSecond: median(b2Rps),
      ratio: median(ratioPerRound),
      ratioPerRound,
      perRound: { relay: relayRps, passthrough: b2Rps },
      cpuUsPerRequest: { relay: relayCpu.length ? median(relayCpu) : undefined, passthrough: b2Cpu.length ? median(b2Cpu) : undefined },
      emulatorCpuUsPerAccepted: emulatorCpu.length ? median(emulatorCpu) : undefined,
      answerMs: {
        relay: { p50: median(relayLat.filter((_, i) => i % 2 === 0)), p99: median(relayLat.filter((_, i) => i % 2 === 1)) },
        passthrough: { p50: median(b2Lat.filter((_, i) => i % 2 === 0)), p99: median(b2Lat.filter((_, i) => i % 2 === 1)) },
      },
      drainMs,
      acceptToDeliveryMs: { p50: lat.p50, p99: percentile(latencies, 99), max: lat.max, samples: latencies.length },
      counts: {
        ...figures,
        passthroughAnswered: b2Tallies.reduce((n, t) => n + t.answered, 0),
        passthroughReached: b2Tallies.reduce((n, t) => n + t.reached.accepted, 0),
      },
      wallMs: performance.now() - wall,
    };
  } finally {
    await stack.close();
  }
}

/** The section's tables from its figures. */
export function asyncReport(f: AsyncBenchFigures): SectionResult {
  const spread = (xs: number[]) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
  const c = f.counts;
  return {
    title: 'Durable delivery (Pub/Sub emulator)',
    tables: [
      {
        heading: `Accepted per second, concurrency ${f.concurrency}, ${f.rounds} alternating rounds (median, spread)`,
        rows: [
          {
            variant: 'async route: verify → publish → 202',
            'req/s': fmt(f.asyncAcceptedPerSecond),
            spread: spread(f.perRound.relay),
            'answer p50 ms': fmt(f.answerMs.relay.p50),
            'answer p99 ms': fmt(f.answerMs.relay.p99),
            'CPU µs/req': fmt(f.cpuUsPerRequest.relay),
          },
          {
            variant: '(b2) framework pass-through, node:http → trivial target',
            'req/s': fmt(f.passthroughPerSecond),
            spread: spread(f.perRound.passthrough),
            'answer p50 ms': fmt(f.answerMs.passthrough.p50),
            'answer p99 ms': fmt(f.answerMs.passthrough.p99),
            'CPU µs/req': fmt(f.cpuUsPerRequest.passthrough),
          },
        ],
      },
      {
        heading: 'Figures',
        rows: [
          {
            figure: 'accepted async webhooks/s ÷ (b2) req/s, median of the rounds (spread)',
            value: `${fmt(f.ratio)} (${spread(f.ratioPerRound)})`,
          },
          {
            figure: 'Pub/Sub emulator (Java) CPU per accepted webhook, same machine',
            value: f.emulatorCpuUsPerAccepted === undefined ? 'not measured' : `${fmt(f.emulatorCpuUsPerAccepted)} µs`,
          },
          {
            figure: `acceptance → delivery p50 / p99 / max (${f.acceptToDeliveryMs.samples} webhooks, 4 at a time)`,
            value: `${fmt(f.acceptToDeliveryMs.p50)} / ${fmt(f.acceptToDeliveryMs.p99)} / ${fmt(f.acceptToDeliveryMs.max)} ms`,
          },
          { figure: 'accepted (202) = received at the target with a valid token (distinct keys)', value: `${c.accepted} = ${c.received}` },
          {
            figure: 'duplicate arrivals (Pub/Sub redeliveries; keys received more than once)',
            value: `${c.duplicates} (${c.duplicatedKeys} keys)`,
          },
          { figure: '(b2) answered = reached the trivial target', value: `${c.passthroughAnswered} = ${c.passthroughReached}` },
          { figure: 'backlog drain after each relay round', value: f.drainMs.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ') },
          { figure: 'section wall time', value: `${(f.wallMs / 1000).toFixed(0)} s` },
        ],
      },
    ],
    notes: [
      'Counted at the target: the set of idempotency keys answered 202 equals the set the verifying target received with a valid ID token, or the section fails.',
      "Rounds are alternated; during a relay round the emulator holds the messages (push paused), and the backlog is pushed and delivered between rounds, so neither variant is measured beside the deliveries. The emulator (Java) stores each publish on the same two cores: its CPU per accepted webhook is shown, and is not in the webhook process's figure.",
      'Latency through the emulator includes its push scheduling; real Pub/Sub differs.',
    ],
    data: f,
  };
}

/** The section's own sizes: full, or --quick. */
export function asyncOptions(options: BenchContext['options']): AsyncBenchOptions {
  return options.quick
    ? { rounds: 2, durationMs: options.durationMs, warmupMs: options.warmupMs, latencyRequests: 100 }
    : { rounds: options.rounds, durationMs: options.durationMs, warmupMs: options.warmupMs, latencyRequests: 300 };
}

/** `npm run bench` section: async acceptance rate against (b2), acceptance→delivery latency, counted at the target. */
export const section: BenchSection = {
  name: 'async',
  async run(context) {
    context.progress('async: starting the Pub/Sub emulator ...');
    return asyncReport(await benchAsync(context, asyncOptions(context.options)));
  },
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const options = parseArgs(process.argv.slice(2));
  const root = resolve(fileURLToPath(import.meta.url), '../../..');
  const workDir = mkdtempSync(join(tmpdir(), 'run-relay-bench-async-'));
  const figures = await benchAsync(
    { options, root, workDir, progress: (m) => process.stderr.write(`[bench] ${m}\n`) },
    asyncOptions(options),
  );
  console.log(JSON.stringify(figures, null, 2));
}

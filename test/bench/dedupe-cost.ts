/**
 * What durable de-duplication adds (`npx tsx test/bench/dedupe-cost.ts [N]`):
 * the relay core's latency for N sync and N async webhooks, each with a new
 * GitHub delivery id, without and with `dedupe: { store: firestore }`, on
 * loopback against the Firestore emulator (FIRESTORE_EMULATOR_HOST, or one
 * started here). Firestore operations are counted by a wrapper around the
 * store. Emulator figures: real Firestore adds its own round trips (~5-20 ms
 * per write in region).
 */
import { randomUUID } from 'node:crypto';
import { createRuntime } from '../../functions/runtime.js';
import { parseConfig } from '../../shared/config/load.js';
import { firestoreDedupeStore } from '../../shared/dedupe/firestore-store.js';
import type { DedupeStore } from '../../shared/dedupe/store.js';
import { startMetadataServer } from '../emulators/metadata-server.js';
import { startPrivateTarget } from '../emulators/private-target.js';
import { startFirestoreEmulator } from '../support/firestore-emulator.js';
import { recordingPublisher } from '../support/recording-publisher.js';
import { githubSignature } from '../support/sign.js';
import { summarize } from './stats.js';

const SECRET = 'bench-github-secret-value';

/** Counts reservations, settles and duplicates: each maps to Firestore operations (see firestore-store.ts). */
function counting(store: DedupeStore) {
  const ops = { reserve: 0, settle: 0 };
  const wrapped: DedupeStore = {
    async reserve(key, o) {
      ops.reserve++;
      const r = await store.reserve(key, o);
      if (r.state !== 'reserved') return r;
      return { state: 'reserved', settle: (d) => (ops.settle++, r.settle(d)) };
    },
    remember: (key, outcome, o) => (ops.settle++, store.remember(key, outcome, o)),
  };
  return { wrapped, ops };
}

async function main() {
  const n = Number(process.argv[2] ?? 300);
  const emulator = await startFirestoreEmulator('bench dedupe-cost');
  if (!emulator) throw new Error('needs the Firestore emulator');
  const metadata = await startMetadataServer();
  process.env.GCE_METADATA_HOST = metadata.host;
  const target = await startPrivateTarget({ keys: () => [metadata.key.jwk] });
  const rows: string[] = [];
  for (const mode of ['sync', 'async'] as const) {
    for (const withStore of [false, true]) {
      const route = {
        verify: { scheme: 'github', secretEnv: 'GITHUB_WEBHOOK_SECRET' },
        mode,
        forward: [{ target: 'svc' }],
        ...(withStore ? { dedupe: { store: 'firestore', window: '1h' } } : {}),
      };
      const loaded = parseConfig(
        { projectId: 'relay-test', targets: { svc: { url: target.url } }, routes: { github: route } },
        { GITHUB_WEBHOOK_SECRET: SECRET },
      );
      const store = counting(firestoreDedupeStore({ projectId: 'relay-test', database: 'run-relay-dedupe', collection: 'bench' }));
      const runtime = createRuntime({
        loaded,
        write: () => {},
        publisher: recordingPublisher().publisher,
        dedupeStore: withStore ? store.wrapped : undefined,
      });
      const body = Buffer.from('{"action":"opened"}');
      const request = (id: string) => ({
        method: 'POST',
        path: '/github',
        query: '',
        rawBody: body,
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'issues',
          'x-github-delivery': id,
          'x-hub-signature-256': githubSignature(SECRET, body),
        },
      });
      for (let i = 0; i < 20; i++) await runtime.relay.handle(request(randomUUID())); // warm-up
      store.ops.reserve = store.ops.settle = 0;
      const latencies: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const res = await runtime.relay.handle(request(randomUUID()));
        latencies.push(performance.now() - t0);
        if (res.status >= 300) throw new Error(`answer ${res.status}`);
      }
      const perEvent = { reserve: store.ops.reserve / n, settle: store.ops.settle / n };
      const dupId = randomUUID();
      await runtime.relay.handle(request(dupId));
      const before = { ...store.ops };
      // A duplicate arriving at another instance: a fresh runtime (its in-memory replay memory is empty).
      const other = createRuntime({
        loaded,
        write: () => {},
        publisher: recordingPublisher().publisher,
        dedupeStore: withStore ? store.wrapped : undefined,
      });
      const dup = await other.relay.handle(request(dupId));
      const s = summarize(latencies);
      rows.push(
        `${mode.padEnd(5)} ${withStore ? 'store   ' : 'no store'}  p50 ${s.p50.toFixed(2)} ms  p99 ${s.p99.toFixed(2)} ms  reservations/event ${perEvent.reserve.toFixed(2)}  settles/event ${perEvent.settle.toFixed(2)}  duplicate elsewhere: ${dup.status} (${store.ops.reserve - before.reserve} reservation)`,
      );
      console.log(rows.at(-1));
    }
  }
  await target.close();
  await metadata.close();
  await emulator.close();
  process.exit(0);
}

await main();

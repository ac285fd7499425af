/**
 * The `pubsub` deliverer on a de-duplication store (a map here; the Firestore
 * one in test/integration/dedupe.test.ts): what a parked delivery does to its
 * key. A target that answered something unusable may have acted on the
 * request, so a copy of the message must not reach it again; an operator's
 * `dlq replay` must.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config/load.js';
import { STORE_CALL_MS } from '../../shared/dedupe/dedupe.js';
import { MemoryDedupeStore } from '../../shared/dedupe/memory-store.js';
import { replayAttributes } from '../../shared/delivery/dead-letter.js';
import { createDeliverer } from '../../shared/delivery/deliver.js';
import { createHttpFetch } from '../../shared/forward/http-fetch.js';
import { createTokenCache } from '../../shared/identity/token-cache.js';
import { listen, sendJson } from '../emulators/http-util.js';
import { recordingPublisher } from '../support/recording-publisher.js';

const tokens = createTokenCache({ source: { fetchIdToken: async () => 'test-token' } });
let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.map((c) => c()));
  closers = [];
});

/** A loopback target that counts the calls per idempotency key and answers 200 with a body that is not the gzip it says. */
async function undecodableTarget() {
  const calls = new Map<string, number>();
  const t = await listen((req, res) => {
    const key = String(req.headers['idempotency-key']);
    calls.set(key, (calls.get(key) ?? 0) + 1);
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    res.end('{"ok":true}');
  });
  closers.push(t.close);
  return { url: t.url, calls };
}

function setup(url: string) {
  const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
  const store = new MemoryDedupeStore(() => clock.now);
  const { publisher, published } = recordingPublisher();
  const loaded = parseConfig({
    targets: { t: { url, retry: { retries: 2, minDelayMs: 1, maxDelayMs: 1 }, dedupe: { store: 'firestore', window: '1h' } } },
  });
  const deliverer = createDeliverer(loaded, { tokens, publisher, fetch: createHttpFetch(), dedupeStore: store });
  return { clock, deliverer, published };
}

const message = (messageId: string, attributes: Record<string, string> = {}) => ({
  data: Buffer.from(JSON.stringify({ v: 1, target: 't', body: '{}', idempotencyKey: 'evt-1:t' })),
  attributes,
  messageId,
  topic: 'relay-deliveries',
});

describe('a delivery parked as target_invalid_response keeps its de-duplication key', () => {
  it('acks a redelivered copy without calling the target again, and lets a later `dlq replay` through once', async () => {
    const t = await undecodableTarget();
    const { clock, deliverer, published } = setup(t.url);
    expect(await deliverer.handle(message('m-1'))).toEqual({ kind: 'dead_lettered', reason: 'target_invalid_response', target: 't' });
    expect(t.calls.get('evt-1:t')).toBe(1);
    // The same message pushed again (a second subscription, a redelivery, a duplicate publish): the target may have
    // acted on the first call, and the event waits in the dead-letter topic, so this copy is acked without a call.
    clock.now += 5_000;
    expect(await deliverer.handle(message('m-2'))).toEqual({ kind: 'duplicate', target: 't', idempotencyKey: 'evt-1:t', of: 'parked' });
    expect(t.calls.get('evt-1:t')).toBe(1);
    expect(published).toHaveLength(1);

    // An operator replays the parked copy (as `dlq replay` publishes it): that is sent, once.
    clock.now += 60_000;
    const parked = published[0]!.message;
    const replay = { ...message('m-3', replayAttributes(parked.attributes ?? {}, new Date(clock.now))), data: parked.data };
    clock.now += 1_000;
    expect(await deliverer.handle(replay)).toEqual({ kind: 'dead_lettered', reason: 'target_invalid_response', target: 't' });
    expect(t.calls.get('evt-1:t')).toBe(2);
    clock.now += 1_000;
    expect(await deliverer.handle({ ...replay, messageId: 'm-4' })).toMatchObject({ kind: 'duplicate', of: 'parked' });
    expect(t.calls.get('evt-1:t')).toBe(2);
  });
});

describe('the lease of a reservation', () => {
  it('outlasts the reservation, the delivery deadline and the settle at their bounds, with lag to spare', async () => {
    // A lease that lapses while its instance still works lets a copy elsewhere take the key over and call the target
    // again: with a 10 s margin the reservation (5 s), the deadline and the settle (5 s) left none.
    const t = await listen((_req, res) => sendJson(res, 200, {}));
    closers.push(t.close);
    const store = new MemoryDedupeStore();
    const leases: number[] = [];
    const reserve = store.reserve.bind(store);
    store.reserve = (key, options) => (leases.push(options.leaseMs), reserve(key, options));
    const loaded = parseConfig({ targets: { t: { url: t.url, dedupe: { store: 'firestore' } } }, pubsub: { deliveryDeadlineMs: 30_000 } });
    const deliverer = createDeliverer(loaded, {
      tokens,
      publisher: recordingPublisher().publisher,
      fetch: createHttpFetch(),
      dedupeStore: store,
    });
    expect(await deliverer.handle(message('m-1'))).toMatchObject({ kind: 'delivered' });
    expect(leases[0]).toBeGreaterThanOrEqual(STORE_CALL_MS + 30_000 + STORE_CALL_MS + 5_000);
  });
});

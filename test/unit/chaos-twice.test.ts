/**
 * The chaos run's reading of a key its target answered 200 twice (test/chaos/twice.ts): a relay fault only when
 * the relay itself saw a 2xx and delivered again; an at-least-once retry when the target's first 200 never reached
 * the relay (the attempt timed out or was reset after the target acted).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config/load.js';
import { MemoryDedupeStore } from '../../shared/dedupe/memory-store.js';
import { createDeliverer } from '../../shared/delivery/deliver.js';
import { createHttpFetch } from '../../shared/forward/http-fetch.js';
import { createTokenCache } from '../../shared/identity/token-cache.js';
import { createLogger } from '../../shared/log.js';
import type { TargetCall } from '../chaos/chaotic.js';
import { classifyTwice, type LogLine } from '../chaos/twice.js';
import { listen, sendJson } from '../emulators/http-util.js';
import { recordingPublisher } from '../support/recording-publisher.js';

const K = 'evt-1:a';
const answered = (n: number): TargetCall[] => Array.from({ length: n }, (_, i) => ({ key: K, at: i, answer: 200 }));
const delivered: LogLine = { message: 'Delivered to target', idempotencyKey: K, status: 200, attempts: 1 };

describe('classifying a key the target answered 200 twice', () => {
  it.each<[string, LogLine[], string]>([
    ['the relay saw two 2xx (on two instances)', [delivered, { ...delivered, instance: 2 }], 'relay-forwarded-again'],
    [
      'one 2xx seen, the other attempt reset',
      [{ message: 'Target attempt failed', idempotencyKey: K, attempt: 1, reason: 'ECONNRESET' }, delivered],
      'answer-lost',
    ],
    [
      'one 2xx seen, the other attempt timed out',
      [{ message: 'Target attempt failed', idempotencyKey: K, attempt: 1, reason: 'no answer within 3000 ms' }, delivered],
      'answer-lost',
    ],
    [
      'one 2xx seen, the other call ran out of deadline',
      [{ message: 'Delivery failed; Pub/Sub will redeliver', idempotencyKey: K, error: { code: 'deadline_exceeded' } }, delivered],
      'answer-lost',
    ],
    [
      'one 2xx seen, the only failed attempt was a 503 the relay read',
      [{ message: 'Target attempt failed', idempotencyKey: K, attempt: 1, status: 503 }, delivered],
      'unexplained',
    ],
    [
      'the lost attempt belongs to another key',
      [{ message: 'Target attempt failed', idempotencyKey: 'evt-1:b', reason: 'ECONNRESET' }, delivered],
      'unexplained',
    ],
  ])('%s: %s', (_name, lines, verdict) => {
    expect(classifyTwice(K, answered(2), lines).verdict).toBe(verdict);
  });
});

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.map((c) => c()));
  closers = [];
});

describe('a target answering after the attempt timeout, through the real deliverer and store', () => {
  it('is called again with the same key (the relay never saw the first 200), and the chaos run reads it as answer-lost', async () => {
    const calls: TargetCall[] = [];
    let retry!: () => void;
    const retried = new Promise<void>((resolve) => (retry = resolve));
    const t = await listen(async (req, res) => {
      const key = String(req.headers['idempotency-key']);
      // The first call is acted on (counted) but answered after the relay has given up on the attempt.
      calls.push({ key, at: Date.now(), answer: 200 });
      // Held until the relay's retry arrives, so the relay has given up on it first however loaded the machine is.
      if (calls.length === 1) await retried;
      else retry();
      sendJson(res, 200, { ok: true });
    });
    closers.push(t.close);
    const lines: string[] = [];
    const loaded = parseConfig({
      targets: {
        a: {
          url: t.url,
          timeoutMs: 1000,
          retry: { retries: 1, minDelayMs: 1, maxDelayMs: 1 },
          dedupe: { store: 'firestore', window: '1h' },
        },
      },
    });
    const deliverer = createDeliverer(loaded, {
      tokens: createTokenCache({ source: { fetchIdToken: async () => 'test-token' } }),
      publisher: recordingPublisher().publisher,
      fetch: createHttpFetch(),
      dedupeStore: new MemoryDedupeStore(),
      logger: createLogger({ write: (l) => lines.push(l) }),
    });
    const message = (messageId: string) => ({
      data: Buffer.from(JSON.stringify({ v: 1, target: 'a', body: '{}', idempotencyKey: K })),
      attributes: {},
      messageId,
      topic: 'relay-deliveries',
    });
    expect(await deliverer.handle(message('m-1'))).toMatchObject({ kind: 'delivered', attempts: 2 });
    // Once the relay has seen the 2xx, no copy reaches the target again.
    expect(await deliverer.handle(message('m-2'))).toMatchObject({ kind: 'duplicate', of: 'delivered' });
    expect(calls).toHaveLength(2);
    expect(
      classifyTwice(
        K,
        calls,
        lines.map((l) => JSON.parse(l) as LogLine),
      ),
    ).toEqual({ key: K, verdict: 'answer-lost', targetAnswered200: 2, relaySawDelivered: 1, attemptsWithoutAnswer: 1 });
  });
});

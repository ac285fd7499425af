/**
 * The circuit breaker and the concurrency cap against a real token-verifying
 * target on loopback that fails, recovers and counts every call, through the
 * real webhook function (sync) and the `pubsub` deliverer.
 */
import type { ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { envelopeMessage } from '../../shared/envelope.js';
import type { MetadataServer } from '../emulators/metadata-server.js';
import { sendJson } from '../emulators/http-util.js';
import { startStack, useMetadataServer, type Stack } from '../support/stack.js';

let metadata: MetadataServer;
let stack: Stack | undefined;
beforeAll(async () => {
  metadata = await useMetadataServer();
});
afterAll(async () => {
  await metadata.close();
});
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** A target that answers 503 while `down`, else 200. */
function flakyTarget() {
  const state = { down: true, calls: 0 };
  const behaviour = (_req: unknown, res: ServerResponse) => {
    state.calls++;
    if (state.down) sendJson(res, 503, { error: 'down' });
    else sendJson(res, 200, { ok: true });
  };
  return { state, behaviour };
}

const route = { verify: { scheme: 'none' }, forward: [{ target: 'svc' }] };
const post = (s: Stack, n = 0) =>
  fetch(`${s.url}/open`, { method: 'POST', body: `{"n":${n}}`, headers: { 'content-type': 'application/json' } });
const circuit = { minimumCalls: 4, failureRate: 0.5, windowMs: 10_000, coolDownMs: 1_000, probes: 2 };

describe('circuit breaker on a real target', () => {
  it('stops calling a failing target once open, answers 503 with Retry-After, probes after the cool-down and closes', async () => {
    const target = flakyTarget();
    stack = await startStack({
      metadata,
      targets: { svc: { behaviour: target.behaviour, config: { retry: { retries: 0 }, circuit } } },
      routes: { open: route },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await post(stack, i)).status);
    expect(statuses).toEqual([503, 503, 503, 503]);
    expect(target.state.calls).toBe(4);

    const refused = await post(stack);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('target_unavailable');
    for (let i = 0; i < 20; i++) await post(stack);
    expect(target.state.calls).toBe(4);

    target.state.down = false;
    await new Promise((r) => setTimeout(r, 1_050));
    expect((await post(stack)).status).toBe(200);
    expect((await post(stack)).status).toBe(200);
    expect(target.state.calls).toBe(6);
    expect((await post(stack)).status).toBe(200);
    expect(target.state.calls).toBe(7);

    const lines = stack.logs.map((l) => JSON.parse(l) as { message: string; target?: string; route?: string; failures?: number });
    const changes = lines.filter((l) => l.message.startsWith('Circuit '));
    expect(changes.map((l) => [l.message.split(':')[0], l.target, l.route])).toEqual([
      ['Circuit opened', 'svc', 'open'],
      ['Circuit closed', 'svc', 'open'],
    ]);
    expect(changes[0]!.failures).toBe(4);
  });

  it('nacks Pub/Sub deliveries at once while open, without calling the target', async () => {
    const target = flakyTarget();
    stack = await startStack({
      metadata,
      targets: { svc: { behaviour: target.behaviour, config: { retry: { retries: 0 }, circuit } } },
      routes: { open: route },
    });
    const message = (n: number) => ({
      ...envelopeMessage({ v: 1, target: 'svc', body: `{"n":${n}}`, idempotencyKey: `k-${n}` }),
      messageId: `m-${n}`,
    });
    const outcomes: string[] = [];
    for (let n = 0; n < 10; n++) {
      outcomes.push(
        await stack.runtime.deliverer.handle(message(n)).then(
          (o) => o.kind,
          (e: { code?: string }) => e.code ?? 'error',
        ),
      );
    }
    expect(outcomes).toEqual([...Array(4).fill('target_retryable_status'), ...Array(6).fill('target_unavailable')]);
    expect(target.state.calls).toBe(4);
  });

  it('holds sync requests past maxConcurrency until a slot frees, within their deadline', async () => {
    let inFlight = 0;
    let peak = 0;
    stack = await startStack({
      metadata,
      targets: {
        svc: {
          behaviour: async (_req, res) => {
            peak = Math.max(peak, ++inFlight);
            await new Promise((r) => setTimeout(r, 100));
            inFlight--;
            sendJson(res, 200, { ok: true });
          },
          config: { maxConcurrency: 2 },
        },
      },
      routes: { open: route },
    });
    const statuses = await Promise.all(Array.from({ length: 6 }, (_, i) => post(stack!, i).then((r) => r.status)));
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    expect(peak).toBe(2);
  });
});

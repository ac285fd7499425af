import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../shared/config/load.js';
import { RelayError } from '../../shared/errors.js';
import { createTargetGuards, outcomeOf } from '../../shared/forward/target-guard.js';
import { Deadline } from '../../shared/forward/deadline.js';
import { clientOverFetch, type TargetResponse } from '../../shared/forward/forward.js';
import { errorResponse } from '../../shared/http.js';

const answer = (status: number): TargetResponse => ({ status, headers: new Headers(), body: Buffer.alloc(0), attempts: 1 });
// A deadline that never ends, and a client that must not be called unless a test hands its own.
const deadline = new Deadline(Number.POSITIVE_INFINITY);
const client = clientOverFetch((() => Promise.reject(new Error('no call expected'))) as typeof fetch);

describe('target guards', () => {
  it.each([
    [{ status: 'fulfilled', value: answer(200) }, 'success'],
    [{ status: 'fulfilled', value: answer(404) }, 'success'],
    [{ status: 'fulfilled', value: answer(503) }, 'failure'],
    [{ status: 'fulfilled', value: answer(429) }, 'failure'],
    [{ status: 'rejected', reason: new RelayError('target_unreachable', 'x') }, 'failure'],
    [{ status: 'rejected', reason: new RelayError('deadline_exceeded', 'x') }, 'failure'],
    [{ status: 'rejected', reason: new RelayError('token_unavailable', 'x') }, 'ignored'],
    [{ status: 'rejected', reason: new RelayError('request_not_sendable', 'x') }, 'ignored'],
  ] as const)('counts %j as %s', (result, expected) => {
    expect(outcomeOf(result as PromiseSettledResult<TargetResponse>)).toBe(expected);
  });

  it('runs a target with neither setting untouched', async () => {
    const config = validateConfig({ targets: { t: { url: 'https://t.example' } } });
    const guards = createTargetGuards(config.targets);
    expect(guards.circuit('t')).toBeUndefined();
    expect((await guards.run('t', async () => answer(503), { wait: false, deadline, client })).status).toBe(503);
  });

  it('refuses with target_unavailable and Retry-After once the circuit is open, and logs one line', async () => {
    const config = validateConfig({ targets: { t: { url: 'https://t.example', circuit: { minimumCalls: 2, coolDownMs: 10_000 } } } });
    const lines: unknown[] = [];
    const logger = { warn: (m: string, f: unknown) => lines.push([m, f]), info: (m: string, f: unknown) => lines.push([m, f]) };
    const clock = { now: 0 };
    const guards = createTargetGuards(config.targets, { logger: logger as never, now: () => clock.now });
    let calls = 0;
    const failing = async () => (calls++, answer(502));
    await guards.run('t', failing, { wait: false, deadline, client, route: 'r' });
    await guards.run('t', failing, { wait: false, deadline, client, route: 'r' });
    const refused = await guards.run('t', failing, { wait: false, deadline, client }).catch((e: unknown) => e);
    expect(calls).toBe(2);
    expect(refused).toBeInstanceOf(RelayError);
    const response = errorResponse(refused);
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('10');
    expect(JSON.parse(String(response.body)).error.code).toBe('target_unavailable');
    expect(lines).toEqual([
      [
        'Circuit opened: calls to the target are refused until it recovers',
        { target: 't', route: 'r', failures: 2, calls: 2, coolDownMs: 10_000 },
      ],
    ]);
  });

  it('lets a probe make one attempt: a failed probe is not retried and opens the circuit again', async () => {
    const config = validateConfig({
      targets: { t: { url: 'https://t.example', circuit: { minimumCalls: 2, coolDownMs: 1000, probes: 1 } } },
    });
    const clock = { now: 0 };
    const guards = createTargetGuards(config.targets, { now: () => clock.now });
    let reached = 0;
    const down = clientOverFetch((async () => (reached++, new Response('down', { status: 503 }))) as typeof fetch);
    // A call with retries of its own, as forward makes: up to three attempts while they answer 503.
    const retrying = async (g: { client: typeof down }) => {
      let last: { status: number } = { status: 0 };
      for (let attempt = 0; attempt < 3; attempt++) {
        last = await g.client.send('https://t.example/', { method: 'GET', headers: {} });
        if (last.status !== 503) break;
      }
      return answer(last.status);
    };
    for (let i = 0; i < 2; i++) await guards.run('t', retrying, { wait: false, deadline, client: down });
    expect(reached).toBe(6);
    expect(guards.circuit('t')!.state).toBe('open');
    clock.now = 1000;
    expect(guards.circuit('t')!.state).toBe('half-open');
    const probe = await guards.run('t', retrying, { wait: false, deadline, client: down }).catch((e: unknown) => e);
    expect(reached).toBe(7);
    expect((probe as RelayError).code).toBe('target_unavailable');
    expect(guards.circuit('t')!.state).toBe('open');
  });

  it('nacks a delivery past maxConcurrency at once but lets a sync request wait for the slot', async () => {
    const config = validateConfig({ targets: { t: { url: 'https://t.example', maxConcurrency: 1 } } });
    const guards = createTargetGuards(config.targets);
    let finish!: () => void;
    const first = guards.run('t', () => new Promise((r) => (finish = () => r(answer(200)))), { wait: true, deadline, client });
    const refused = await guards.run('t', async () => answer(200), { wait: false, deadline, client }).catch((e: unknown) => e);
    expect((refused as RelayError).code).toBe('target_unavailable');
    const waiting = guards.run('t', async () => answer(201), { wait: true, deadline, client });
    finish();
    expect((await first).status).toBe(200);
    expect((await waiting).status).toBe(201);
  });

  it('makes no further attempt for a call let in while closed once the circuit has opened', async () => {
    const config = validateConfig({ targets: { t: { url: 'https://t.example', circuit: { minimumCalls: 2 } } } });
    const guards = createTargetGuards(config.targets);
    let reached = 0;
    const fetchStub = (async () => (reached++, new Response('down', { status: 503 }))) as typeof fetch;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // A slow call with retries of its own: its first attempt goes out, then it waits before retrying.
    const slow = guards.run(
      't',
      async (g) => {
        await g.client.send('https://t.example/', { method: 'GET', headers: {} });
        await gate;
        const second = await g.client.send('https://t.example/', { method: 'GET', headers: {} }).catch((e: unknown) => e);
        if (g.deadline.expired) throw g.deadline.reason;
        return answer((second as { status: number }).status);
      },
      { wait: false, deadline, client: clientOverFetch(fetchStub) },
    );
    for (let i = 0; i < 2; i++)
      await guards.run('t', async (g) => answer((await g.client.send('https://t.example/', { method: 'GET', headers: {} })).status), {
        wait: false,
        deadline,
        client: clientOverFetch(fetchStub),
      });
    expect(guards.circuit('t')!.state).toBe('open');
    release();
    const error = await slow.catch((e: unknown) => e);
    expect((error as RelayError).code).toBe('target_unavailable');
    expect(reached).toBe(3);
  });

  it('reads `circuit: true` as the documented defaults', () => {
    const config = validateConfig({ targets: { t: { url: 'https://t.example', circuit: true } } });
    expect(config.targets.t!.circuit).toEqual({ failureRate: 0.5, minimumCalls: 20, windowMs: 30_000, coolDownMs: 30_000, probes: 3 });
  });
});

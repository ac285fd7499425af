import { createHook } from 'node:async_hooks';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config/load.js';
import { RelayError } from '../../shared/errors.js';
import { Deadline } from '../../shared/forward/deadline.js';
import { deadlineSignal, forward, resolveTarget } from '../../shared/forward/forward.js';
import { createHttpClient } from '../../shared/forward/http-fetch.js';
import { createTokenCache } from '../../shared/identity/token-cache.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Deadline', () => {
  it('starts no timer until something waits, and then ends with deadline_exceeded', async () => {
    const d = new Deadline(30);
    expect(d.expired).toBe(false);
    const signal = d.signal; // reading the signal arms it
    await sleep(60);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(RelayError);
    expect((signal.reason as RelayError).code).toBe('deadline_exceeded');
    d.clear();
  });

  it('knows it has expired by the clock even when no timer ran', () => {
    let now = 0;
    const d = new Deadline(100, { clock: () => now });
    now = 100;
    expect(d.expired).toBe(true);
    expect((d.reason as RelayError).code).toBe('deadline_exceeded');
  });

  it('fires a bound at its own timeout when that comes first, and at the deadline otherwise', async () => {
    const d = new Deadline(80);
    const seen: string[] = [];
    d.bound(20, (why) => seen.push(`short:${why}`));
    d.bound(10_000, (why) => seen.push(`long:${why}`));
    await sleep(40);
    expect(seen).toEqual(['short:timeout']);
    await sleep(80);
    expect(seen).toEqual(['short:timeout', 'long:deadline']);
    d.clear();
  });

  it('does not fire a released bound', async () => {
    const d = new Deadline(1_000);
    const seen: string[] = [];
    d.bound(10, (why) => seen.push(why))();
    await sleep(30);
    expect(seen).toEqual([]);
    d.clear();
  });

  it('follows an AbortSignal, ending with its reason', () => {
    const controller = new AbortController();
    const d = Deadline.following(controller.signal);
    const seen: string[] = [];
    d.bound(10_000, (why) => seen.push(why));
    controller.abort(new RelayError('deadline_exceeded', 'outer'));
    expect(seen).toEqual(['deadline']);
    expect((d.reason as RelayError).message).toBe('outer');
  });
});

describe('the forwarding hot path', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    server = undefined;
  });

  it('delivers a request with a cached token and a 2xx answer on ONE timer, without p-retry', async () => {
    let calls = 0;
    server = createServer((req, res) => {
      calls++;
      req.resume().on('end', () => res.writeHead(200, { 'x-answer': 'yes' }).end('ok'));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { config } = parseConfig({ targets: { t: { url } }, routes: {} }, {});
    const target = resolveTarget('t', config.targets.t!);
    const tokens = createTokenCache({ source: { fetchIdToken: async () => 'token' } });
    await tokens.get(target.audience);
    const client = createHttpClient();
    const delivery = { target, method: 'POST', path: '/x', headers: { 'content-type': 'text/plain' }, body: Buffer.from('hi') };
    await forward(delivery, { tokens, client }, new Deadline(30_000)); // warm the keep-alive socket

    // Timers the relay's code creates (the loopback server here keeps its own keep-alive timers).
    const timers: string[] = [];
    const hook = createHook({
      init: (_id, type) => {
        const stack = new Error().stack ?? '';
        if (type === 'Timeout' && /shared[\\/](forward|identity)|p-retry/.test(stack)) timers.push(stack);
      },
    }).enable();
    const deadline = deadlineSignal(30_000); // as the relay makes it, per request
    let response;
    try {
      response = await forward(delivery, { tokens, client }, deadline);
    } finally {
      hook.disable();
      deadline.clear();
    }
    expect(response).toMatchObject({ status: 200, attempts: 1 });
    expect(response.headers.get('x-answer')).toBe('yes');
    expect(response.body.toString()).toBe('ok');
    expect(calls).toBe(2);
    expect(timers).toHaveLength(1);
  });
});

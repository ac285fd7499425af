import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runLoad } from './load.js';

let server: Server | undefined;
afterEach(async () => {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((resolve) => server!.close(resolve));
  server = undefined;
});

/** A loopback server answering `status` after `delayMs`, tracking requests in flight and connections. */
async function target(status = 200, delayMs = 2) {
  const seen = { inFlight: 0, maxInFlight: 0, requests: 0, connections: 0, bodies: new Set<string>(), ids: new Set<string>() };
  server = createServer((req, res) => {
    seen.requests++;
    seen.ids.add(String(req.headers['x-id']));
    seen.maxInFlight = Math.max(seen.maxInFlight, ++seen.inFlight);
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      seen.bodies.add(body);
      setTimeout(() => {
        seen.inFlight--;
        res.writeHead(status).end('{}');
      }, delayMs);
    });
  });
  server.on('connection', () => seen.connections++);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`, seen };
}

describe('load generator', () => {
  it('keeps exactly `concurrency` requests in flight over that many keep-alive connections', async () => {
    const { url, seen } = await target();
    const result = await runLoad({ url, body: Buffer.from('hello'), concurrency: 4, durationMs: 300, warmupMs: 50 });
    expect(seen.maxInFlight).toBe(4);
    expect(seen.connections).toBe(4);
    expect(seen.bodies).toEqual(new Set(['hello']));
    expect(result.errors).toBe(0);
    expect(result.requests).toBeGreaterThan(20);
    expect(result.completed).toBeGreaterThanOrEqual(result.requests);
    expect(result.latencies).toHaveLength(result.requests);
    expect(Math.min(...result.latencies)).toBeGreaterThanOrEqual(1.5);
  });

  it('reports requests per second from the measured window only', async () => {
    const { url, seen } = await target(200, 10);
    const result = await runLoad({ url, concurrency: 1, durationMs: 400, warmupMs: 200 });
    // About 10 ms per request: ~40 in the window, ~60 in all.
    expect(result.rps).toBeCloseTo(result.requests / 0.4, 5);
    expect(result.requests).toBeLessThan(seen.requests);
    expect(result.rps).toBeGreaterThan(40);
    expect(result.rps).toBeLessThan(110);
  });

  it('counts non-2xx answers as errors and names the first one', async () => {
    const { url } = await target(503, 1);
    const result = await runLoad({ url, concurrency: 2, durationMs: 100, warmupMs: 0 });
    expect(result.requests).toBe(0);
    expect(result.errors).toBeGreaterThan(0);
    expect(result.firstError).toBe('HTTP 503');
  });

  it('counts a refused connection as an error and still ends on time', async () => {
    const { url } = await target();
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
    const started = performance.now();
    const result = await runLoad({ url, concurrency: 2, durationMs: 200, warmupMs: 0 });
    expect(result.requests).toBe(0);
    expect(result.firstError).toMatch(/ECONNREFUSED/);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('calls onWindow at the start and the end of the measured window', async () => {
    const { url } = await target();
    const edges: [string, number][] = [];
    const started = performance.now();
    await runLoad({
      url,
      concurrency: 1,
      durationMs: 150,
      warmupMs: 100,
      onWindow: (edge) => edges.push([edge, performance.now() - started]),
    });
    expect(edges.map(([edge]) => edge)).toEqual(['start', 'end']);
    expect(edges[0]![1]).toBeGreaterThanOrEqual(95);
    expect(edges[1]![1]).toBeGreaterThanOrEqual(245);
  });

  it('builds the headers of every request anew when given a function, so each carries its own delivery id', async () => {
    const { url, seen } = await target(200, 1);
    let next = 0;
    const result = await runLoad({ url, concurrency: 3, durationMs: 150, warmupMs: 0, headers: () => ({ 'x-id': String(next++) }) });
    expect(result.completed).toBe(seen.requests);
    expect(seen.ids.size).toBe(seen.requests);
  });
  it('hands every answer, its body and the headers sent to onAnswer; a throwing onAnswer fails that request', async () => {
    const { url } = await target(200, 1);
    let n = 0;
    const seen: string[] = [];
    const result = await runLoad({
      url,
      headers: () => ({ 'x-id': String(n++) }),
      concurrency: 2,
      durationMs: 200,
      warmupMs: 20,
      onAnswer: (status, body, sent) => {
        seen.push(`${status} ${body.toString()} ${sent['x-id']}`);
        if (sent['x-id'] === '3') throw new Error('not what was wanted');
      },
    });
    expect(seen.length).toBe(result.completed + result.errors);
    expect(seen).toContain('200 {} 0');
    expect(result.errors).toBe(1);
    expect(result.firstError).toBe('not what was wanted');
  });
});

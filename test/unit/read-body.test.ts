/**
 * The front door's body reader and request-target parsing, on plain streams:
 * limits counted as bytes arrive (decoded bytes when decoding), encodings only
 * on opt-in, a deadline for slow senders, and linear-time path handling.
 */
import { PassThrough } from 'node:stream';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { RelayError } from '../../shared/errors.js';
import { readBody } from '../../shared/door/read-body.js';
import { SMALL_BODY_BYTES, pubsubDoorPolicy, webhookDoorPolicy, type BodyPolicy } from '../../shared/door/policy.js';
import { routeNameOf, splitTarget } from '../../shared/http.js';

const policy = (over: Partial<BodyPolicy> = {}): BodyPolicy => ({ maxBytes: 1024, timeoutMs: 2000, encodings: [], parse: false, ...over });

function read(chunks: Buffer[], headers: Record<string, string>, p: BodyPolicy, options: { end?: boolean; abort?: boolean } = {}) {
  const stream = new PassThrough();
  const result = new Promise<{ error?: RelayError; body: Buffer; calls: number }>((resolve) => {
    let calls = 0;
    readBody(stream, headers, p, (error, body) => {
      calls++;
      // A second call would be a bug: give it a tick to show up.
      setTimeout(() => resolve({ error, body, calls }), 20);
    });
  });
  for (const c of chunks) stream.write(c);
  if (options.abort) stream.destroy();
  else if (options.end !== false) stream.end();
  return { result, stream };
}

describe('readBody', () => {
  it('keeps the exact bytes, whatever they are, and calls back once', async () => {
    const bytes = Buffer.from([0, 255, 10, 13, 0xc3, 0x28]);
    const { result } = read([bytes.subarray(0, 3), bytes.subarray(3)], {}, policy());
    const { error, body, calls } = await result;
    expect(error).toBeUndefined();
    expect(body.equals(bytes)).toBe(true);
    expect(calls).toBe(1);
  });

  it('refuses a declared Content-Length over the limit before reading anything', async () => {
    const { result } = read([], { 'content-length': String(30 * 1024 * 1024) }, policy(), { end: false });
    const { error } = await result;
    expect(error?.code).toBe('payload_too_large');
    expect(error?.status).toBe(413);
  });

  it('stops at the limit on a chunked body, keeping nothing past it', async () => {
    const { result, stream } = read([Buffer.alloc(600), Buffer.alloc(600)], {}, policy(), { end: false });
    const { error, body } = await result;
    expect(error?.code).toBe('payload_too_large');
    expect(body.length).toBe(0);
    // Reading stopped: what the sender still writes is not consumed by the reader.
    expect(stream.listenerCount('data')).toBe(0);
  });

  it('accepts a body of exactly the limit', async () => {
    const { error, body } = await read([Buffer.alloc(1024, 1)], {}, policy()).result;
    expect(error).toBeUndefined();
    expect(body.length).toBe(1024);
  });

  it.each(['gzip', 'deflate', 'br', 'x-unknown'])('refuses Content-Encoding %s with 415 when the route does not opt in', async (coding) => {
    const { error } = await read([Buffer.from('x')], { 'content-encoding': coding }, policy()).result;
    expect(error?.status).toBe(415);
    expect(error?.message).toContain('acceptEncodings');
  });

  it.each([
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
  ] as const)('decodes %s when the route opts in', async (coding, encode) => {
    const plain = Buffer.from('{"hello":"world"}'.repeat(20));
    const { error, body } = await read([encode(plain)], { 'content-encoding': coding.toUpperCase() }, policy({ encodings: [coding] }))
      .result;
    expect(error).toBeUndefined();
    expect(body.equals(plain)).toBe(true);
  });

  it('counts decoded bytes against the limit: a small brotli bomb costs the limit, not its size', async () => {
    const bomb = brotliCompressSync(Buffer.alloc(16 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(4096);
    const started = performance.now();
    const { error } = await read([bomb], { 'content-encoding': 'br' }, policy({ encodings: ['br'], maxBytes: 64 * 1024 })).result;
    expect(error?.code).toBe('payload_too_large');
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('answers a body that does not decode as its encoding says with 400', async () => {
    const { error } = await read([Buffer.from('not gzip at all')], { 'content-encoding': 'gzip' }, policy({ encodings: ['gzip'] })).result;
    expect(error?.status).toBe(400);
  });

  it('gives up on a slow sender with 408 after the body deadline', async () => {
    const { result } = read([Buffer.from('{')], {}, policy({ timeoutMs: 50 }), { end: false });
    const { error } = await result;
    expect(error?.code).toBe('request_timeout');
    expect(error?.status).toBe(408);
  });

  it('reports a connection that goes away mid-body as a 400, once', async () => {
    const { error, calls } = await read([Buffer.from('{"a"')], {}, policy(), { abort: true }).result;
    expect(error?.status).toBe(400);
    expect(calls).toBe(1);
  });
});

describe('door policies', () => {
  const config = {
    routes: { github: { maxBodyBytes: 1_000_000, deadlineMs: 30_000, acceptEncodings: ['gzip'] } },
    pubsub: { deliveryDeadlineMs: 60_000 },
  } as never;

  it('gives a route its own limit, deadline and encodings, and every other path a small allowance', () => {
    const door = webhookDoorPolicy(config);
    expect(door.bodyFor('/github')).toMatchObject({ maxBytes: 1_000_000, timeoutMs: 30_000, encodings: ['gzip'] });
    expect(door.bodyFor('//github/')).toMatchObject({ maxBytes: 1_000_000 });
    for (const path of ['/healthz', '/nope', '/__proto__', '/constructor', '/'])
      expect(door.bodyFor(path)).toMatchObject({ maxBytes: SMALL_BODY_BYTES, encodings: [] });
    expect(door.requestTimeoutMs).toBeGreaterThan(30_000);
  });

  it('lets the pubsub function read a whole push, parsed, within the delivery deadline', () => {
    const door = pubsubDoorPolicy(config);
    expect(door.bodyFor('/anything')).toMatchObject({ maxBytes: 14 * 1024 * 1024, timeoutMs: 60_000, parse: true });
  });
});

describe('request targets', () => {
  it.each([
    ['/github', '/github', ''],
    ['/github?x=1&y=2', '/github', '?x=1&y=2'],
    ['/github#frag', '/github', ''],
    ['/github?x=1#frag?y', '/github', '?x=1'],
    ['http://evil.example/github?x=1', '/github', '?x=1'],
    ['http://evil.example', '/', ''],
    ['*', '*', ''],
  ])('splits %s into path %s and query %s', (url, path, query) => {
    expect(splitTarget(url)).toEqual({ path, query });
  });

  it('refuses a target over the bound without scanning it', () => {
    expect(splitTarget('/' + 'a'.repeat(5000))).toBeUndefined();
    expect(splitTarget('/' + 'a'.repeat(100), 50)).toBeUndefined();
  });

  it('names routes with surrounding slashes trimmed, in linear time', () => {
    expect(routeNameOf('//github/')).toBe('github');
    expect(routeNameOf('/')).toBe('');
    const slashes = '/x' + '/'.repeat(200_000) + 'y';
    const started = performance.now();
    expect(routeNameOf(slashes)).toBe(slashes.slice(1));
    expect(routeNameOf('/'.repeat(200_000))).toBe('');
    // Not a speed target: a quadratic trim of 200,000 slashes takes minutes, a linear one about a millisecond, so a
    // bound this loose tells them apart on any machine, however loaded.
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

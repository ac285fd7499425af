import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpFetch, InvalidResponseError, RequestNotSendableError } from '../../shared/forward/http-fetch.js';

let server: Server | undefined;
afterEach(async () => {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((resolve) => server!.close(resolve));
  server = undefined;
});

interface Seen {
  method?: string;
  url?: string;
  headers?: IncomingMessage['headers'];
  body?: Buffer;
  connections: number;
}

async function serve(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; seen: Seen }> {
  const seen: Seen = { connections: 0 };
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      Object.assign(seen, { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      answer(req, res);
    });
  });
  server.on('connection', () => seen.connections++);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const httpFetch = createHttpFetch();

describe('node:http fetch for forwarding', () => {
  it('sends the method, path, query, headers and body byte for byte, and returns status, headers and body', async () => {
    const { url, seen } = await serve((_req, res) =>
      res.writeHead(201, { 'content-type': 'application/json', 'x-answer': 'yes' }).end('{"ok":true}'),
    );
    const body = Buffer.from('{"emoji":"\u2603"}');
    const res = await httpFetch(`${url}/hooks/a?x=1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'k1' },
      body,
    });
    expect(seen).toMatchObject({ method: 'PUT', url: '/hooks/a?x=1' });
    expect(seen.headers).toMatchObject({
      'content-type': 'application/json',
      'idempotency-key': 'k1',
      'content-length': String(body.length),
    });
    expect(seen.body!.equals(body)).toBe(true);
    expect(res.status).toBe(201);
    expect(res.headers.get('x-answer')).toBe('yes');
    expect(await res.json()).toEqual({ ok: true });
  });

  it('reuses one keep-alive connection for sequential requests', async () => {
    const { url, seen } = await serve((_req, res) => res.end('ok'));
    for (let i = 0; i < 3; i++) expect(await (await httpFetch(url, { method: 'POST', body: 'x' })).text()).toBe('ok');
    expect(seen.connections).toBe(1);
  });

  it('returns a redirect as it came instead of following it', async () => {
    const { url } = await serve((_req, res) => res.writeHead(302, { location: '/elsewhere' }).end());
    const res = await httpFetch(url, { method: 'POST', body: 'x', redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/elsewhere');
  });

  it('decodes a gzip body, as fetch does', async () => {
    const { url } = await serve((_req, res) => res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync('compressed answer')));
    expect(await (await httpFetch(url)).text()).toBe('compressed answer');
  });

  it('answers a 204 with an empty body', async () => {
    const { url } = await serve((_req, res) => res.writeHead(204).end());
    const res = await httpFetch(url, { method: 'POST', body: 'x' });
    expect(res.status).toBe(204);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it('rejects a refused connection with TypeError "fetch failed" whose cause has the system code', async () => {
    const { url } = await serve((_req, res) => res.end());
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
    const error = await httpFetch(url).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as TypeError).message).toBe('fetch failed');
    expect(((error as TypeError).cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('rejects when the target hangs up in the middle of its answer', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('only part of it');
      setTimeout(() => res.socket?.destroy(), 10);
    });
    const error = await httpFetch(url, { method: 'POST', body: 'x' }).catch((e: unknown) => e);
    expect((error as TypeError).message).toBe('fetch failed');
    expect(((error as TypeError).cause as { code?: string }).code).toBe('ECONNRESET');
  });

  it('rejects with the signal reason when aborted while waiting for the answer', async () => {
    const { url, seen } = await serve(() => {});
    const signal = AbortSignal.timeout(50);
    const error = await httpFetch(url, { method: 'POST', body: 'slow', signal }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('TimeoutError');
    expect(seen.body?.toString()).toBe('slow');
  });

  it('sends nothing when the signal is already aborted', async () => {
    const { url, seen } = await serve((_req, res) => res.end());
    const controller = new AbortController();
    controller.abort(new Error('gave up'));
    await expect(httpFetch(url, { signal: controller.signal })).rejects.toThrow('gave up');
    expect(seen.connections).toBe(0);
  });
});

describe('node:http fetch over https', () => {
  // A self-signed certificate for 127.0.0.1, made with the openssl CLI.
  const dir = mkdtempSync(join(tmpdir(), 'http-fetch-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const cert = readFileSync(join(dir, 'cert.pem'));
  const key = readFileSync(join(dir, 'key.pem'));

  async function serveTls(): Promise<string> {
    server = createHttpsServer({ key, cert }, (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end(`tls ${req.method}`));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('calls an https target whose certificate it trusts', async () => {
    const url = await serveTls();
    const res = await createHttpFetch({ ca: cert })(`${url}/x`, { method: 'POST', body: 'hi' });
    expect(await res.text()).toBe('tls POST');
  });

  it('refuses an https target whose certificate it does not trust', async () => {
    const url = await serveTls();
    const error = await createHttpFetch()(`${url}/x`, { method: 'POST', body: 'hi' }).catch((e: unknown) => e);
    expect((error as TypeError).message).toBe('fetch failed');
    expect(((error as TypeError).cause as { code?: string }).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it('refuses to send a header value HTTP does not allow, without touching the network', async () => {
    const { url, seen } = await serve((_req, res) => res.end('ok'));
    await expect(httpFetch(url, { method: 'POST', headers: { 'x-order': '\u6ce8\u6587-1' }, body: 'x' })).rejects.toBeInstanceOf(
      RequestNotSendableError,
    );
    expect(seen.connections).toBe(0);
  });

  it.each([
    ['a status outside 200..599', (res: ServerResponse) => res.writeHead(999).end('odd')],
    ['a corrupt gzip body', (res: ServerResponse) => res.writeHead(200, { 'content-encoding': 'gzip' }).end('not gzip at all')],
    ['an unknown content-encoding', (res: ServerResponse) => res.writeHead(200, { 'content-encoding': 'zstd-ish' }).end('x')],
  ])('rejects %s as an InvalidResponseError', async (_name, answer) => {
    const { url } = await serve((_req, res) => answer(res));
    await expect(httpFetch(url)).rejects.toBeInstanceOf(InvalidResponseError);
  });

  it('stops reading an answer larger than maxResponseBytes, before and after decoding', async () => {
    const small = createHttpFetch({ maxResponseBytes: 1024 });
    const { url } = await serve((req, res) => {
      if (req.url === '/plain') return res.end(Buffer.alloc(4096, 'a'));
      res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(Buffer.alloc(1024 * 1024, 'a')));
    });
    await expect(small(`${url}/plain`)).rejects.toThrow(/larger than 1024 bytes/);
    await expect(small(`${url}/bomb`)).rejects.toBeInstanceOf(InvalidResponseError);
  });

  it('undoes several content codings in reverse order', async () => {
    const { url } = await serve((_req, res) =>
      res.writeHead(200, { 'content-encoding': 'gzip, br' }).end(brotliCompressSync(gzipSync('layered'))),
    );
    expect(await (await httpFetch(url)).text()).toBe('layered');
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { startMetadataServer, type MetadataServer } from '../emulators/metadata-server.js';
import { freePort, listensOn, startServer, type ServerProcess } from './processes.js';
import { createServer } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'bench-processes-test-'));
const started: ServerProcess[] = [];
let metadata: MetadataServer | undefined;
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
  await metadata?.close();
  metadata = undefined;
});

async function start(name: string, script: string, env: Record<string, string> = {}) {
  const port = await freePort();
  const server = await startServer({
    name,
    args: ['--import', 'tsx', script],
    port,
    env: { PORT: String(port), ...env },
    logFile: join(dir, `${name}.log`),
  });
  started.push(server);
  return server;
}

const post = (url: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json', ...headers } });

describe('bench server processes', () => {
  it('starts a server process, waits until it answers, and reads its peak RSS and CPU time', async () => {
    const server = await start('trivial', 'test/bench/servers/trivial-target.ts');
    const res = await post(`${server.url}/x`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect(server.peakRssMiB()).toBeGreaterThan(10);
    expect(server.cpuMs()).toBeGreaterThan(0);
    expect(server.startupMs).toBeGreaterThan(0);
    await server.stop();
    await expect(fetch(server.url)).rejects.toThrow();
  });

  it('tells whether a process, and not another one, holds the listening socket on a port', async () => {
    const port = await freePort();
    expect(listensOn(process.pid, port)).toBe(false);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      expect(listensOn(process.pid, port)).toBe(true);
      expect(listensOn(1, port)).toBe(false);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('rejects with the output of a process that exits before answering', async () => {
    const port = await freePort();
    await expect(
      startServer({
        name: 'broken',
        args: ['-e', 'console.error("boom: no config"); process.exit(3)'],
        port,
        logFile: join(dir, 'broken.log'),
      }),
    ).rejects.toThrow(/broken exited \(3\) before answering:\nboom: no config/);
  });

  it('has a verifying target that accepts only ID tokens for its own audience from the emulator', async () => {
    metadata = await startMetadataServer();
    const target = await start('verifying', 'test/bench/servers/verifying-target.ts', { JWKS_URL: metadata.jwksUrl });
    const good = metadata.mint(target.url);
    expect((await post(target.url, { authorization: `Bearer ${good}` })).status).toBe(200);
    // Served from the cache of verified tokens the second time.
    expect((await post(target.url, { authorization: `Bearer ${good}` })).status).toBe(200);
    expect((await post(target.url)).status).toBe(401);
    expect((await post(target.url, { authorization: `Bearer ${metadata.mint('https://elsewhere.example')}` })).status).toBe(401);
    expect((await post(target.url, { authorization: `Bearer ${metadata.mint(target.url, { exp: 1 })}` })).status).toBe(401);
  });

  it('has a bare proxy that passes the body on with its fixed header and relays the answer', async () => {
    metadata = await startMetadataServer();
    const target = await start('verifying-2', 'test/bench/servers/verifying-target.ts', { JWKS_URL: metadata.jwksUrl });
    const token = metadata.mint(target.url);
    const proxy = await start('bare', 'test/bench/servers/bare-proxy.ts', {
      UPSTREAM: target.url,
      HEADER_NAME: 'authorization',
      HEADER_VALUE: `Bearer ${token}`,
    });
    // The target demands a token; only the proxy's fixed header carries one.
    const res = await post(`${proxy.url}/hooks`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });
});

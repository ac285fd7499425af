/**
 * Attacks on the public endpoint, run against the built functions started as
 * production starts them (the Functions Framework CLI, NODE_ENV=production,
 * the 256 MiB heap cap `npm run deploy` sets), on loopback only. Each case is
 * one row of issue 10's table: what a stranger with no credentials can send,
 * and what the relay must do instead of dying, stalling or losing the event.
 * Every case is bounded in time; none needs the internet.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMetadataServer, type MetadataServer } from '../emulators/metadata-server.js';
import { startPrivateTarget, type PrivateTarget } from '../emulators/private-target.js';
import { startFramework, type FrameworkProcess } from '../support/framework-process.js';
import { githubSignature } from '../support/sign.js';

const root = resolve(import.meta.dirname, '../..');
const MiB = 1024 * 1024;
const SECRET = 'attack-suite-secret';

let metadata: MetadataServer;
let target: PrivateTarget;
let webhook: FrameworkProcess;
let pubsub: FrameworkProcess;

function productionEnv(configPath: string): NodeJS.ProcessEnv {
  const { RELAY_CONFIG: _a, PUBSUB_EMULATOR_HOST: _b, ...env } = process.env;
  return {
    ...env,
    NODE_ENV: 'production',
    RELAY_CONFIG: configPath,
    GCE_METADATA_HOST: metadata.host,
    GOOGLE_CLOUD_PROJECT: 'attack-project',
    GITHUB_WEBHOOK_SECRET: SECRET,
  };
}

beforeAll(async () => {
  metadata = await startMetadataServer();
  target = await startPrivateTarget({ keys: () => [metadata.key.jwk] });
  const dir = mkdtempSync(join(tmpdir(), 'relay-attack-'));
  const configPath = join(dir, 'relay.config.json');
  const forward = [{ target: 'svc', path: '/in' }];
  writeFileSync(
    configPath,
    JSON.stringify({
      targets: { svc: { url: target.url, retry: { retries: 0, minDelayMs: 0, maxDelayMs: 0 } } },
      routes: {
        github: { verify: { scheme: 'github', secretEnv: 'GITHUB_WEBHOOK_SECRET' }, forward },
        open: { verify: { scheme: 'none' }, forward, deadlineMs: 2000 },
        zipped: { verify: { scheme: 'none' }, forward, acceptEncodings: ['gzip'] },
      },
    }),
  );
  const nodeArgs = ['--max-old-space-size=256'];
  [webhook, pubsub] = await Promise.all([
    startFramework({ cwd: root, args: ['--target=webhook'], env: productionEnv(configPath), nodeArgs }),
    startFramework({
      cwd: root,
      args: ['--target=pubsub', '--signature-type=cloudevent'],
      env: productionEnv(configPath),
      nodeArgs,
      waitFor: '/',
    }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([webhook?.stop(), pubsub?.stop()]);
  await target?.close();
  await metadata?.close();
});

/** Peak resident memory of a process so far (VmHWM), MiB. */
function peakRssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmHWM:'))!;
  return Number(line.replace(/\D+/g, '')) / 1024;
}

async function alive(p: FrameworkProcess) {
  expect(p.child.exitCode).toBeNull();
  const res = await fetch(`${p.url}/healthz`);
  expect(res.status).toBeLessThan(500);
}

interface Answer {
  status: number;
  body: string;
  ms: number;
}

/** Sends one request with node:http, the body written as given (chunked unless content-length is set); resolves on the answer. */
function send(
  url: string,
  path: string,
  options: { headers?: Record<string, string | number>; body?: Buffer; stream?: { chunk: Buffer; total: number; everyMs?: number } } = {},
): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest(`${url}${path}`, { method: 'POST', headers: options.headers, agent: false });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolvePromise({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), ms: performance.now() - started }),
      );
      res.on('error', reject);
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    if (options.stream) {
      const { chunk, total, everyMs } = options.stream;
      let sent = 0;
      const pump = () => {
        while (!answered && !req.destroyed && sent < total) {
          sent += chunk.length;
          const more = req.write(chunk);
          if (everyMs) return void setTimeout(pump, everyMs);
          if (!more) return void req.once('drain', pump);
        }
        if (sent >= total && !req.destroyed) req.end();
      };
      pump();
    } else {
      req.end(options.body);
    }
  });
}

function errorCode(answer: Answer): string {
  return (JSON.parse(answer.body) as { error: { code: string } }).error.code;
}

describe('decompression bombs', () => {
  const brBomb = brotliCompressSync(Buffer.alloc(400 * MiB), { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } });
  const gzBomb = gzipSync(Buffer.alloc(400 * MiB), { level: 9 });

  it.each(['/github', '/nope', '/healthz', '/zipped'])(
    'answers a 1 KiB brotli body inflating to 400 MiB on %s with 415 JSON at once',
    async (path) => {
      expect(brBomb.length).toBeLessThan(1024);
      const answer = await send(webhook.url, path, {
        headers: { 'content-encoding': 'br', 'content-type': 'application/json', 'content-length': brBomb.length },
        body: brBomb,
      });
      expect(answer.status).toBe(415);
      expect(errorCode(answer)).toBe('unsupported_media_type');
      // Not a speed target: inflating 400 MiB takes seconds; answering from the headers takes milliseconds, and the
      // bound leaves room for a loaded machine.
      expect(answer.ms).toBeLessThan(500);
      await alive(webhook);
    },
  );

  it('decodes a gzip bomb on a route that accepts gzip only up to its limit: 413, instance alive', async () => {
    const answer = await send(webhook.url, '/zipped', {
      headers: { 'content-encoding': 'gzip', 'content-length': gzBomb.length },
      body: gzBomb,
    });
    expect(answer.status).toBe(413);
    expect(errorCode(answer)).toBe('payload_too_large');
    await alive(webhook);
  });

  it('refuses encoded bodies on the pubsub function too', async () => {
    const answer = await send(pubsub.url, '/', {
      headers: { 'content-encoding': 'gzip', 'content-type': 'application/json', 'content-length': gzBomb.length },
      body: gzBomb,
    });
    expect(answer.status).toBe(415);
    expect(pubsub.child.exitCode).toBeNull();
  });
});

describe('oversized bodies', () => {
  it('stops 40 concurrent 30 MiB chunked bodies at the limit: 413 JSON each, peak RSS under 150 MiB', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const before = peakRssMiB(webhook.child.pid!);
    const paths = Array.from({ length: 40 }, (_, i) => (i % 2 ? '/open' : '/healthz'));
    const answers = await Promise.all(
      paths.map((path) => send(webhook.url, path, { headers: { 'content-type': 'application/json' }, stream: { chunk, total: 30 * MiB } })),
    );
    expect(answers.map((a) => a.status)).toEqual(paths.map(() => 413));
    const peak = peakRssMiB(webhook.child.pid!);
    console.log(`attack: peak RSS ${before.toFixed(1)} MiB before, ${peak.toFixed(1)} MiB after 40 x 30 MiB chunked bodies`);
    expect(peak).toBeLessThan(150);
    await alive(webhook);
  }, 60_000);

  it.each(['/github#x', 'http://relay.example/github', '/github?x=1'])(
    'answers Content-Length 30 MiB on %s with 413 before reading the body',
    async (path) => {
      const started = performance.now();
      const answer = await new Promise<string>((resolvePromise, reject) => {
        const socket = connect(Number(new URL(webhook.url).port), '127.0.0.1', () =>
          socket.write(
            `POST ${path} HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: ${30 * MiB}\r\n\r\n{"a":`,
          ),
        );
        let text = '';
        socket.on('data', (c: Buffer) => {
          text += c.toString();
          if (text.includes('\r\n\r\n') && text.includes('}')) {
            socket.destroy();
            resolvePromise(text);
          }
        });
        socket.on('error', reject);
        socket.setTimeout(5000, () => reject(new Error('no answer within 5 s')));
      });
      expect(answer).toMatch(/^HTTP\/1\.1 413 /);
      expect(answer).toContain('"payload_too_large"');
      expect(performance.now() - started).toBeLessThan(1000);
    },
  );

  it('refuses a 30 MiB body to the pubsub function (larger than any push) with 413', async () => {
    const answer = await send(pubsub.url, '/', {
      headers: { 'content-type': 'application/json' },
      stream: { chunk: Buffer.alloc(64 * 1024, 0x20), total: 30 * MiB },
    });
    expect(answer.status).toBe(413);
    expect(pubsub.child.exitCode).toBeNull();
  });
});

describe('paths', () => {
  it('answers POST /x followed by 15,000 slashes at once with 414, and keeps /healthz fast', async () => {
    const path = '/x' + '/'.repeat(15_000);
    const answers = await Promise.all(Array.from({ length: 30 }, () => send(webhook.url, path, { body: Buffer.from('{}') })));
    for (const answer of answers) {
      expect(answer.status).toBe(414);
      expect(errorCode(answer)).toBe('uri_too_long');
    }
    const health = await send(webhook.url, '/healthz', {});
    // A backtracking path match would keep the instance busy for seconds; the bound leaves room for a loaded machine.
    expect(health.ms).toBeLessThan(500);
  });

  it('answers a 16 KiB path at once (414 from the relay, or 431 from Node when the head is too large)', async () => {
    await fetch(`${webhook.url}/healthz`);
    const answer = await send(webhook.url, '/' + 'a'.repeat(16 * 1024), { body: Buffer.from('{}') }).catch(() => undefined);
    // Node answers an oversized head itself (431) and closes; either way the answer is immediate.
    if (answer) {
      expect([414, 431]).toContain(answer.status);
      expect(answer.ms).toBeLessThan(500);
    }
    await alive(webhook);
  });
});

describe('slow senders', () => {
  it('answers a body trickled 1 byte every 500 ms with 408 JSON within the route deadline', async () => {
    const started = performance.now();
    const answer = await send(webhook.url, '/open', {
      headers: { 'content-type': 'application/json' },
      stream: { chunk: Buffer.from('a'), total: 10_000, everyMs: 500 },
    });
    expect(answer.status).toBe(408);
    expect(errorCode(answer)).toBe('request_timeout');
    expect(performance.now() - started).toBeLessThan(4000);
    await alive(webhook);
  });
});

describe('bodies the framework parsers used to lose', () => {
  it('forwards a body without Content-Type to the target byte for byte', async () => {
    const bytes = Buffer.from([0x00, 0xff, 0x7b, 0x0a, 0xc3, 0x28, 0x80]);
    const before = target.received.length;
    const answer = await send(webhook.url, '/open', { body: bytes, headers: { 'content-length': bytes.length } });
    expect(answer.status).toBe(200);
    expect(target.received.length).toBe(before + 1);
    expect(target.received.at(-1)!.body.equals(bytes)).toBe(true);
  });

  it('forwards a text/plain body on an unsigned route as sent', async () => {
    const answer = await send(webhook.url, '/open', { body: Buffer.from('hello, relay'), headers: { 'content-type': 'text/plain' } });
    expect(answer.status).toBe(200);
    expect(target.received.at(-1)!.body.toString()).toBe('hello, relay');
  });

  it.each(['null', '"hello"', '42'])('relays a JSON scalar %s with a valid GitHub signature', async (body) => {
    const answer = await send(webhook.url, '/github', {
      body: Buffer.from(body),
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'ping',
        'x-github-delivery': `scalar-${body.length}-${Date.now()}`,
        'x-hub-signature-256': githubSignature(SECRET, body),
      },
    });
    expect(answer.status).toBe(200);
    expect(target.received.at(-1)!.body.toString()).toBe(body);
  });

  it('decodes gzip on a route that opts in and forwards the decoded bytes', async () => {
    const plain = '{"compressed":true}';
    const answer = await send(webhook.url, '/zipped', {
      body: gzipSync(plain),
      headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' },
    });
    expect(answer.status).toBe(200);
    expect(target.received.at(-1)!.body.toString()).toBe(plain);
    expect(target.received.at(-1)!.headers['content-encoding']).toBeUndefined();
  });
});

describe('framework answers', () => {
  it.each(['/favicon.ico', '/robots.txt'])('answers GET %s with the relay JSON 404', async (path) => {
    const res = await fetch(`${webhook.url}${path}`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });
});

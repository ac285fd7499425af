/**
 * Bounded fuzzing of the webhook function over real HTTP: random bytes,
 * truncated and oversized bodies, duplicated and malformed signature headers,
 * non-UTF-8 input, across every scheme. Every answer must be a 4xx with a
 * JSON error body, the process must keep serving, and nothing may reach the
 * target. Seeded, so a failure can be replayed.
 */
import { Agent, request } from 'node:http';
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echo } from '../emulators/private-target.js';
import { startStack, type Stack } from '../support/stack.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261122);
const CASES = 2400;
const MAX_BODY = 4096;

/** mulberry32: a small seeded PRNG. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const secret = 'fuzz-secret-value';
const env = { S: secret, WH: 'whsec_' + Buffer.from(secret).toString('base64') };
const routes: Record<string, Record<string, unknown>> = {
  github: { scheme: 'github', secretEnv: 'S' },
  stripe: { scheme: 'stripe', secretEnv: 'S' },
  slack: { scheme: 'slack', secretEnv: 'S' },
  shopify: { scheme: 'shopify', secretEnv: 'S' },
  sw: { scheme: 'standard-webhooks', secretEnv: 'WH' },
  twilio: { scheme: 'twilio', secretEnv: 'S', publicUrl: 'https://relay.example.com/twilio' },
  zoom: { scheme: 'zoom', secretEnv: 'S' },
  hmac: { scheme: 'hmac', secretEnv: 'S', header: 'x-sig', timestampHeader: 'x-ts' },
  bearer: { scheme: 'bearer', secretEnv: 'S' },
};
const SIG_HEADERS = ['x-hub-signature-256', 'stripe-signature', 'x-slack-signature', 'x-slack-request-timestamp', 'x-shopify-hmac-sha256', 'webhook-id', 'webhook-timestamp', 'webhook-signature', 'x-twilio-signature', 'x-zm-signature', 'x-zm-request-timestamp', 'x-sig', 'x-ts', 'authorization'];
const TYPES = ['application/json', 'application/x-www-form-urlencoded', 'text/plain', 'application/octet-stream', 'application/json; charset=utf-16', 'multipart/form-data; boundary=x', ''];

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    env,
    targets: { svc: { behaviour: echo } },
    routes: Object.fromEntries(Object.entries(routes).map(([name, verify]) => [name, { verify, forward: [{ target: 'svc' }], maxBodyBytes: MAX_BODY }])),
  });
});
afterAll(() => stack.close());

interface FuzzCase {
  route: string;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

function makeCase(random: () => number): FuzzCase {
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
  const text = (n: number) => Array.from({ length: n }, () => String.fromCharCode(32 + Math.floor(random() * 95))).join('');
  const route = pick(Object.keys(routes));
  const now = Math.floor(Date.now() / 1000);
  const headers: Record<string, string | string[]> = {};
  const type = pick(TYPES);
  if (type) headers['content-type'] = type;
  let body: Buffer;
  const kind = Math.floor(random() * 6);
  switch (kind) {
    case 0: // random bytes, random headers
      body = bytes(Math.floor(random() * 2048));
      break;
    case 1: // oversized
      body = bytes(MAX_BODY + 1 + Math.floor(random() * 60_000));
      break;
    case 2: { // validly signed, then truncated
      const full = Buffer.from(JSON.stringify({ id: 'evt_' + text(8), type: 'x', payload: text(200) }));
      const mac = (data: string | Buffer) => createHmac('sha256', secret).update(data).digest('hex');
      headers['x-hub-signature-256'] = 'sha256=' + mac(full);
      headers['stripe-signature'] = `t=${now},v1=${mac(Buffer.concat([Buffer.from(`${now}.`), full]))}`;
      headers['x-slack-request-timestamp'] = String(now);
      headers['x-slack-signature'] = 'v0=' + mac(Buffer.concat([Buffer.from(`v0:${now}:`), full]));
      headers['x-zm-request-timestamp'] = String(now);
      headers['x-zm-signature'] = headers['x-slack-signature'];
      body = full.subarray(0, Math.floor(random() * (full.length - 1)));
      break;
    }
    case 3: // duplicated signature headers
      body = Buffer.from(text(Math.floor(random() * 300)));
      for (const name of SIG_HEADERS) if (random() < 0.5) headers[name] = [text(20), 'sha256=' + 'a'.repeat(64), `v0=${'b'.repeat(64)}`];
      break;
    case 4: // validly signed non-UTF-8 bytes for schemes that must parse the body
      body = Buffer.concat([Buffer.from('{"id":"'), bytes(64), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]);
      headers['content-type'] = 'application/json';
      headers['x-slack-request-timestamp'] = String(now);
      headers['x-slack-signature'] = 'v0=' + createHmac('sha256', secret).update(`v0:${now}:`).update(body).digest('hex');
      headers['stripe-signature'] = `t=${now},v1=${createHmac('sha256', secret).update(`${now}.`).update(body).digest('hex')}`;
      headers['x-zm-request-timestamp'] = String(now);
      headers['x-zm-signature'] = headers['x-slack-signature'];
      break;
    default: // malformed signature values of every shape
      body = Buffer.from(text(Math.floor(random() * 500)));
      for (const name of SIG_HEADERS) if (random() < 0.6) headers[name] = pick([text(Math.floor(random() * 200)), 'sha256=', 'v0=zz', 't=,v1=', 'v1,', 'Bearer', 'Bearer  ', '=', String(now), '-1', '99999999999999999999']);
  }
  return { route: kind === 4 ? pick(['slack', 'stripe', 'zoom']) : route, headers, body };
}

function send(url: URL, agent: Agent, c: FuzzCase): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: `/${c.route}`, method: 'POST', agent, headers: { ...c.headers, 'content-length': c.body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(c.body);
  });
}

describe('fuzzing the webhook function', () => {
  it(`answers ${CASES} hostile requests (seed ${SEED}) with a 4xx JSON error each, forwarding nothing and staying up`, async () => {
    const random = rng(SEED);
    const cases = Array.from({ length: CASES }, () => makeCase(random));
    const url = new URL(stack.url);
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < cases.length) {
          const c = cases[next++]!;
          const res = await send(url, agent, c);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          let parsed: { error?: { code?: unknown; message?: unknown } } = {};
          try {
            parsed = JSON.parse(res.body);
          } catch {}
          const ok = res.status >= 400 && res.status < 500 && res.type.startsWith('application/json') && typeof parsed.error?.code === 'string' && typeof parsed.error?.message === 'string' && !res.body.includes('    at ');
          if (!ok && failures.length < 5) failures.push(`${c.route} ${res.status} ${res.body.slice(0, 200)}`);
        }
      }),
    );
    agent.destroy();
    const elapsed = performance.now() - started;
    expect(failures).toEqual([]);
    expect(stack.targets.svc!.received).toHaveLength(0);
    expect([...statuses.keys()].sort()).toEqual(expect.arrayContaining([400, 401, 413]));
    expect(elapsed).toBeLessThan(60_000);
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
  });

  it.each(['/github', '//github', '/github/?x=1'])('refuses a body whose declared length is over the limit before reading it (%s)', async (path) => {
    const url = new URL(stack.url);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': 100 * 1024 * 1024 } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
          req.destroy();
        });
      });
      req.on('error', reject);
      // Only the first bytes of the declared 100 MiB are ever sent: the answer must not wait for the rest.
      req.write('{"a":');
    });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({ error: { code: 'payload_too_large', message: `Body exceeds this route's limit of ${MAX_BODY} bytes` } });
  });
});

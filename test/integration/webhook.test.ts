import type { ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MetadataServer } from '../emulators/metadata-server.js';
import { echo, type Behaviour } from '../emulators/private-target.js';
import { githubSignature } from '../support/sign.js';
import { startStack, useMetadataServer, type Stack } from '../support/stack.js';

/** The relay's JSON error answer. */
type ErrorBody = { error: { code: string; results?: unknown } };

const SECRET = 'integration-webhook-secret-value';
const env = { GITHUB_WEBHOOK_SECRET: SECRET, RELAY_BEARER: 'bearer-secret-value-123' };
const fastRetry = { retries: 4, minDelayMs: 100, maxDelayMs: 1000 };

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

function githubRoute(target = 'svc', extra: Record<string, unknown> = {}) {
  return { verify: { scheme: 'github', secretEnv: 'GITHUB_WEBHOOK_SECRET' }, forward: [{ target, path: '/hooks/github' }], ...extra };
}

async function oneTarget(behaviour: Behaviour, config: Record<string, unknown> = {}, route: Record<string, unknown> = {}) {
  stack = await startStack({
    metadata,
    env,
    targets: { svc: { behaviour, config: { retry: fastRetry, ...config } } },
    routes: { github: githubRoute('svc', route) },
  });
  return stack;
}

function postGithub(s: Stack, body = '{"action":"opened"}', headers: Record<string, string> = {}) {
  return fetch(`${s.url}/github`, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'issues',
      'x-github-delivery': 'delivery-123',
      'x-hub-signature-256': githubSignature(SECRET, body),
      ...headers,
    },
  });
}

const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);

describe('webhook relay to a token-verifying target', () => {
  it('forwards a GitHub-signed body byte for byte with a valid ID token for the target audience', async () => {
    const s = await oneTarget(echo);
    const body = '{"action":"opened","emoji":"\u2603"}';
    const res = await postGithub(s, body, {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      cookie: 'session=1',
      authorization: 'Basic c2VjcmV0',
    });
    expect(res.status).toBe(200);
    const [received] = s.targets.svc!.received;
    expect(received!.body.toString()).toBe(body);
    expect(received!.path).toBe('/hooks/github');
    expect(received!.claims.aud).toBe(s.targets.svc!.url);
    expect(received!.claims.email).toBe(metadata.serviceAccount);
    expect(received!.headers['idempotency-key']).toBe('delivery-123');
    expect(received!.headers['x-github-event']).toBe('issues');
    expect(received!.headers['traceparent']).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(received!.headers['x-forwarded-for']).toContain('127.0.0.1');
    expect(received!.headers['x-forwarded-host']).toBeDefined();
    expect(received!.headers['cookie']).toBeUndefined();
    expect(received!.headers['x-hub-signature-256']).toBeUndefined();
    // The only Authorization the target sees is the relay's own ID token.
    expect(received!.headers['authorization']).toMatch(/^Bearer eyJ/);
    expect(s.targets.svc!.rejected).toHaveLength(0);
    const log = s.logs.find((l) => l.includes('Request answered'))!;
    expect(JSON.parse(log)['logging.googleapis.com/trace']).toBe('projects/local-project/traces/0af7651916cd43dd8448eb211c80319c');
    // One line per delivered request, carrying route, target, attempts, status and latency.
    expect(s.logs).toHaveLength(1);
    expect(JSON.parse(log)).toMatchObject({
      severity: 'INFO',
      route: 'github',
      target: 'svc',
      attempts: 1,
      status: 200,
      targetStatus: 200,
      idempotencyKey: 'delivery-123',
      latencyMs: expect.any(Number),
      targetLatencyMs: expect.any(Number),
    });
  });

  it('puts the token in X-Serverless-Authorization when the target asks, leaving Authorization out', async () => {
    const s = await oneTarget(echo, { tokenHeader: 'x-serverless-authorization' });
    const res = await postGithub(s, '{}', { authorization: 'Bearer sender-token' });
    expect(res.status).toBe(200);
    const [received] = s.targets.svc!.received;
    expect(received!.headers['x-serverless-authorization']).toMatch(/^Bearer eyJ/);
    expect(received!.headers['authorization']).toBeUndefined();
  });

  it('uses the configured audience instead of the URL origin', async () => {
    stack = await startStack({
      metadata,
      env,
      targets: { svc: { config: { audience: 'https://custom-audience.example' } } },
      routes: { github: githubRoute() },
    });
    // The target only accepts its own URL as audience, so a token for the custom audience is refused;
    // the relay retries once with a fresh token, then passes the 401 on.
    const res = await postGithub(stack);
    expect(res.status).toBe(401);
    expect(stack.targets.svc!.rejected.map((r) => r.reason)).toEqual([
      'wrong audience https://custom-audience.example',
      'wrong audience https://custom-audience.example',
    ]);
    expect(metadata.identityRequests.get('https://custom-audience.example')).toBe(2);
  });

  it('retries a target that fails 503 twice, with growing jittered delays, and keeps the idempotency key', async () => {
    const s = await oneTarget((req, res, n) => (n <= 2 ? void res.writeHead(503).end('busy') : echo(req, res, n)));
    const res = await postGithub(s);
    expect(res.status).toBe(200);
    const received = s.targets.svc!.received;
    expect(received).toHaveLength(3);
    expect(new Set(received.map((r) => r.headers['idempotency-key']))).toEqual(new Set(['delivery-123']));
    const [first, second] = gaps(received.map((r) => r.at));
    expect(first).toBeGreaterThanOrEqual(95);
    expect(first).toBeLessThan(200 + 150);
    expect(second).toBeGreaterThanOrEqual(195);
    expect(second).toBeLessThan(400 + 150);
  });

  it('honours Retry-After on 429 and caps it by maxDelayMs', async () => {
    const s = await oneTarget((req, res, n) => (n === 1 ? void res.writeHead(429, { 'retry-after': '1' }).end() : echo(req, res, n)), {
      retry: { retries: 2, minDelayMs: 50, maxDelayMs: 3000 },
    });
    const res = await postGithub(s);
    expect(res.status).toBe(200);
    const [gap] = gaps(s.targets.svc!.received.map((r) => r.at));
    expect(gap).toBeGreaterThanOrEqual(990);
    expect(gap).toBeLessThan(1000 + 50 + 200);

    await s.close();
    const capped = await oneTarget(
      (req, res, n) => (n === 1 ? void res.writeHead(429, { 'retry-after': '30' }).end() : echo(req, res, n)),
      {
        retry: { retries: 2, minDelayMs: 50, maxDelayMs: 300 },
      },
    );
    const res2 = await postGithub(capped);
    expect(res2.status).toBe(200);
    const [gap2] = gaps(capped.targets.svc!.received.map((r) => r.at));
    expect(gap2).toBeGreaterThanOrEqual(290);
    expect(gap2).toBeLessThan(300 + 50 + 200);
  });

  it('gives up on a hanging target after the per-attempt timeout and answers 502', async () => {
    const hang: Behaviour = () => new Promise(() => {});
    const s = await oneTarget(hang, { timeoutMs: 300, retry: { retries: 1, minDelayMs: 50, maxDelayMs: 50 } });
    const started = Date.now();
    const res = await postGithub(s);
    const elapsed = Date.now() - started;
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({
      error: { code: 'target_unreachable', message: expect.stringContaining('no answer within 300 ms') },
    });
    expect(s.targets.svc!.received).toHaveLength(2);
    expect(elapsed).toBeGreaterThanOrEqual(600);
    expect(elapsed).toBeLessThan(600 + 100 + 1000);
  });

  it('answers 504 when the route deadline passes before the target answers', async () => {
    const hang: Behaviour = () => new Promise(() => {});
    const s = await oneTarget(hang, { timeoutMs: 10_000 }, { deadlineMs: 400 });
    const started = Date.now();
    const res = await postGithub(s);
    expect(res.status).toBe(504);
    expect(((await res.json()) as ErrorBody).error.code).toBe('deadline_exceeded');
    expect(Date.now() - started).toBeLessThan(400 + 1000);
    expect(s.targets.svc!.received).toHaveLength(1);
  });

  it('retries after a connection reset and delivers on the next attempt', async () => {
    const s = await oneTarget((req, res, n) => {
      if (n === 1) return void res.socket?.destroy();
      return echo(req, res, n);
    });
    const res = await postGithub(s);
    expect(res.status).toBe(200);
    expect(s.targets.svc!.received).toHaveLength(2);
  });

  it('answers 502 when the target keeps resetting connections', async () => {
    const s = await oneTarget((_req, res) => void res.socket?.destroy(), { retry: { retries: 2, minDelayMs: 10, maxDelayMs: 20 } });
    const res = await postGithub(s);
    expect(res.status).toBe(502);
    expect(((await res.json()) as ErrorBody).error.code).toBe('target_unreachable');
    expect(s.targets.svc!.received).toHaveLength(3);
  });

  it('drops a token the target refuses and retries once at once with a fresh one', async () => {
    const s = await oneTarget((req, res, n) => (n === 1 ? void res.writeHead(401).end('stale') : echo(req, res, n)));
    const audience = s.targets.svc!.url;
    const before = metadata.identityRequests.get(audience) ?? 0;
    const res = await postGithub(s);
    expect(res.status).toBe(200);
    const received = s.targets.svc!.received;
    expect(received).toHaveLength(2);
    expect(metadata.identityRequests.get(audience)! - before).toBe(2);
    expect(received[0]!.headers.authorization).not.toBe(received[1]!.headers.authorization);
    // The immediate retry does not wait for backoff.
    expect(received[1]!.at - received[0]!.at).toBeLessThan(100);
  });

  it('keeps the token on a 403 (a permission problem a new token cannot fix) and passes the answer on', async () => {
    const s = await oneTarget((_req, res) => void res.writeHead(403).end('forbidden'));
    await postGithub(s);
    const before = metadata.identityRequests.get(s.targets.svc!.url)!;
    const res = await postGithub(s);
    expect(res.status).toBe(403);
    expect(metadata.identityRequests.get(s.targets.svc!.url)).toBe(before);
    expect(s.targets.svc!.received).toHaveLength(2);
  });

  it('retries a refused token once even when the policy allows no retries', async () => {
    const s = await oneTarget((req, res, n) => (n === 1 ? void res.writeHead(401).end('stale') : echo(req, res, n)), {
      retry: { retries: 0, minDelayMs: 10, maxDelayMs: 10 },
    });
    const res = await postGithub(s);
    expect(res.status).toBe(200);
    expect(s.targets.svc!.received).toHaveLength(2);
  });

  it('answers 504 at the deadline even while the token fetch hangs', async () => {
    const s = await oneTarget(echo, {}, { deadlineMs: 300 });
    metadata.setDelay(3000);
    const started = Date.now();
    try {
      const res = await postGithub(s);
      expect(res.status).toBe(504);
      expect(((await res.json()) as ErrorBody).error.code).toBe('deadline_exceeded');
    } finally {
      metadata.setDelay(0);
    }
    expect(Date.now() - started).toBeLessThan(300 + 1000);
    expect(s.targets.svc!.received).toHaveLength(0);
  });

  it('does not send again when the answer cannot be read: the target may have acted', async () => {
    const s = await oneTarget((_req, res) => void res.writeHead(200, { 'content-encoding': 'gzip' }).end('not gzip'));
    const res = await postGithub(s);
    expect(res.status).toBe(502);
    expect(((await res.json()) as ErrorBody).error.code).toBe('target_invalid_response');
    expect(s.targets.svc!.received).toHaveLength(1);
  });

  it('appends the sender query to a configured path that has its own query', async () => {
    stack = await startStack({
      metadata,
      env,
      targets: { svc: {} },
      routes: { github: { ...githubRoute(), forward: [{ target: 'svc', path: '/hooks?source=gh' }] } },
    });
    const body = '{}';
    const res = await fetch(`${stack.url}/github?x=1`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': githubSignature(SECRET, body) },
    });
    expect(res.status).toBe(200);
    expect(stack.targets.svc!.received[0]!.path).toBe('/hooks?source=gh&x=1');
  });

  it('fails other 4xx at once and passes the answer through without Google or hop-by-hop headers', async () => {
    const s = await oneTarget((_req, res: ServerResponse) => {
      res.writeHead(409, {
        'content-type': 'application/json',
        'x-goog-request-id': 'g',
        'x-cloud-trace-context': 't',
        'set-cookie': 'a=b',
        'x-app': 'kept',
      });
      res.end('{"conflict":true}');
    });
    const res = await postGithub(s);
    expect(res.status).toBe(409);
    expect(await res.text()).toBe('{"conflict":true}');
    expect(res.headers.get('x-app')).toBe('kept');
    expect(res.headers.get('x-goog-request-id')).toBeNull();
    expect(res.headers.get('x-cloud-trace-context')).toBeNull();
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(s.targets.svc!.received).toHaveLength(1);
  });

  it('makes ONE token fetch for 100 concurrent cold requests to one audience', async () => {
    const s = await oneTarget(echo);
    metadata.setDelay(50);
    try {
      // Distinct delivery ids: the same id 100 times would be answered as duplicates.
      const responses = await Promise.all(
        Array.from({ length: 100 }, (_, i) => postGithub(s, undefined, { 'x-github-delivery': `delivery-${i}` })),
      );
      expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
    } finally {
      metadata.setDelay(0);
    }
    expect(metadata.identityRequests.get(s.targets.svc!.url)).toBe(1);
    expect(s.targets.svc!.received).toHaveLength(100);
  });

  it('reports a failing token fetch as token_unavailable (not target down) and recovers once the metadata server does', async () => {
    const s = await oneTarget(echo, { retry: { retries: 1, minDelayMs: 10, maxDelayMs: 10 } });
    metadata.failNext(1000);
    let res: Response;
    try {
      res = await postGithub(s);
    } finally {
      metadata.failNext(0);
    }
    expect(res.status).toBe(503);
    expect(((await res.json()) as ErrorBody).error.code).toBe('token_unavailable');
    expect(s.targets.svc!.received).toHaveLength(0);
    const failures = s.logs.filter((l) => l.includes('ID token fetch failed')).map((l) => JSON.parse(l));
    // One failure per relay attempt (the policy allows 2), each naming the audience.
    expect(failures).toHaveLength(2);
    expect(failures[0].audience).toBe(s.targets.svc!.url);

    const again = await postGithub(s);
    expect(again.status).toBe(200);
    expect(s.targets.svc!.received).toHaveLength(1);
  });

  it('relays one request to several targets and summarises the results', async () => {
    stack = await startStack({
      metadata,
      env,
      targets: { a: {}, b: { behaviour: (_req, res) => void res.writeHead(400).end('no') } },
      routes: {
        both: {
          verify: { scheme: 'bearer', secretEnv: 'RELAY_BEARER' },
          forward: [
            { target: 'a', path: '/x' },
            { target: 'b', path: '/y' },
          ],
        },
      },
    });
    const res = await fetch(`${stack.url}/both`, {
      method: 'POST',
      body: 'hi',
      headers: { authorization: 'Bearer bearer-secret-value-123' },
    });
    expect(res.status).toBe(502);
    expect(((await res.json()) as ErrorBody).error.results).toEqual([
      { target: 'a', status: 200 },
      { target: 'b', status: 400 },
    ]);
    expect(stack.targets.a!.received[0]!.headers['idempotency-key']).toBe(stack.targets.b!.received[0]!.headers['idempotency-key']);
  });
});

describe('webhook function: bad input', () => {
  beforeAll(async () => {});

  const cases: { name: string; request: (url: string) => Promise<Response>; status: number; code: string }[] = [
    { name: 'an unknown route', request: (u) => fetch(`${u}/nope`, { method: 'POST', body: '{}' }), status: 404, code: 'not_found' },
    { name: 'GET on a route', request: (u) => fetch(`${u}/github`), status: 405, code: 'method_not_allowed' },
    {
      name: 'a missing signature',
      request: (u) => fetch(`${u}/github`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }),
      status: 401,
      code: 'unauthorized',
    },
    {
      name: 'a wrong signature',
      request: (u) =>
        fetch(`${u}/github`, {
          method: 'POST',
          body: '{}',
          headers: { 'content-type': 'application/json', 'x-hub-signature-256': githubSignature('wrong', '{}') },
        }),
      status: 401,
      code: 'unauthorized',
    },
    {
      name: 'a malformed signature',
      request: (u) => fetch(`${u}/github`, { method: 'POST', body: '{}', headers: { 'x-hub-signature-256': 'sha256=zz' } }),
      status: 401,
      code: 'unauthorized',
    },
    {
      name: 'a body over the route limit',
      request: (u) => fetch(`${u}/github`, { method: 'POST', body: 'x'.repeat(2048), headers: { 'content-type': 'text/plain' } }),
      status: 413,
      code: 'payload_too_large',
    },
    {
      name: 'unparseable JSON with a valid signature on a route with a contract',
      request: (u) =>
        fetch(`${u}/github`, {
          method: 'POST',
          body: '{"a":',
          headers: {
            'content-type': 'application/json',
            'x-github-event': 'push',
            'x-hub-signature-256': githubSignature(SECRET, '{"a":'),
          },
        }),
      status: 400,
      code: 'bad_request',
    },
    {
      name: 'a wrong bearer secret',
      request: (u) => fetch(`${u}/open`, { method: 'POST', body: 'x', headers: { authorization: 'Bearer nope' } }),
      status: 401,
      code: 'unauthorized',
    },
  ];

  it.each(cases)('answers $name with $status and a JSON error, forwarding nothing', async ({ request, status, code }) => {
    stack = await startStack({
      metadata,
      env,
      targets: { svc: {} },
      routes: {
        github: githubRoute('svc', { maxBodyBytes: 1024, contract: { events: { push: { type: 'object' } } } }),
        open: { verify: { scheme: 'bearer', secretEnv: 'RELAY_BEARER' }, forward: [{ target: 'svc' }] },
      },
    });
    const res = await request(stack.url);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = await res.json();
    expect(body).toEqual({ error: { code, message: expect.any(String) } });
    expect(JSON.stringify(body)).not.toMatch(/at .*\.(ts|js):\d+/);
    expect(stack.targets.svc!.received).toHaveLength(0);
  });

  it('answers GET /healthz without touching targets or the metadata server', async () => {
    stack = await startStack({ metadata, env, targets: { svc: {} }, routes: { github: githubRoute() } });
    const before = metadata.totalIdentityRequests();
    const res = await fetch(`${stack.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    expect(metadata.totalIdentityRequests()).toBe(before);
    expect(stack.targets.svc!.received).toHaveLength(0);
  });
});

describe('secrets and tokens stay inside', () => {
  it('never puts a token, secret or signature value in a response or a log line', async () => {
    const s = await oneTarget((req, res, n) => {
      if (n === 1) return void res.writeHead(401, { 'www-authenticate': 'Bearer realm="x"' }).end('stale');
      if (n === 2) return void res.writeHead(503).end();
      return echo(req, res, n);
    });
    const body = '{"secret":"not really"}';
    const signature = githubSignature(SECRET, body);
    const answers: string[] = [];
    for (const headers of [{}, { 'x-hub-signature-256': githubSignature('wrong-secret', body) }] as Record<string, string>[]) {
      const res = await postGithub(s, body, headers);
      answers.push(JSON.stringify([...res.headers]) + (await res.text()));
    }
    const everything = answers.join('\n') + '\n' + s.logs.join('\n');
    expect(s.logs.length).toBeGreaterThan(3);
    expect(metadata.issued.length).toBeGreaterThan(0);
    for (const token of metadata.issued) expect(everything).not.toContain(token);
    expect(everything).not.toMatch(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\./);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain(signature.slice(7));
    for (const line of s.logs) expect(() => JSON.parse(line)).not.toThrow();
  });
});

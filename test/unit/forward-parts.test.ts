import { describe, expect, it } from 'vitest';
import { responseHeaders, senderHeaders } from '../../shared/forward/headers.js';
import { outboundRequests } from '../../shared/forward/outbound.js';
import { parseRetryAfter } from '../../shared/forward/retry-after.js';
import { resolveTarget, targetUrl } from '../../shared/forward/forward.js';
import { createLogger, traceFields } from '../../shared/log.js';
import { github } from '../../shared/verify/github.js';
import { bearer } from '../../shared/verify/bearer.js';

describe('Retry-After', () => {
  it.each([
    ['120', 120_000],
    [' 0 ', 0],
    ['Wed, 21 Oct 2015 07:28:30 GMT', 30_000],
    ['Wed, 21 Oct 2015 07:27:00 GMT', 0],
    ['soon', undefined],
    ['-5', undefined],
    [null, undefined],
  ])('reads %j as %j ms', (value, expected) => {
    expect(parseRetryAfter(value, Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(expected);
  });
});

describe('target URLs and audiences', () => {
  it.each([
    ['https://svc.a.run.app', '/hooks/x', 'https://svc.a.run.app/hooks/x'],
    ['https://svc.a.run.app/', '/hooks/x', 'https://svc.a.run.app/hooks/x'],
    ['https://svc.a.run.app/api', '/hooks/x?a=1', 'https://svc.a.run.app/api/hooks/x?a=1'],
  ])('joins %s and %s', (base, path, expected) => {
    expect(targetUrl(base, path)).toBe(expected);
  });

  it('defaults the audience to the URL origin and keeps a configured one', () => {
    const base = { tokenHeader: 'authorization' as const, timeoutMs: 1, retry: { retries: 0, minDelayMs: 0, maxDelayMs: 0 } };
    expect(resolveTarget('a', { ...base, url: 'https://svc.a.run.app/api' }).audience).toBe('https://svc.a.run.app');
    expect(resolveTarget('a', { ...base, url: 'https://svc.a.run.app', audience: 'custom' }).audience).toBe('custom');
  });
});

describe('headers', () => {
  it('forwards only allowlisted sender headers, never credentials or hop-by-hop ones, and adds X-Forwarded-*', () => {
    const headers = senderHeaders(
      {
        'content-type': 'application/json',
        authorization: 'Bearer x',
        cookie: 'a=b',
        connection: 'close',
        'x-other': '1',
        'x-github-event': 'push',
        host: 'relay.example',
        'x-forwarded-for': '203.0.113.9',
      },
      ['content-type', 'x-github-event', 'authorization', 'cookie', 'connection'],
      { remoteAddress: '10.0.0.2', protocol: 'https' },
    );
    const [out] = outboundRequests({ headers, eventKey: 'key-1', keys: 'event' }, [{ target: 't', path: '/', method: 'POST' }]);
    expect(out!.headers).toEqual({
      'content-type': 'application/json',
      'x-github-event': 'push',
      'idempotency-key': 'key-1',
      'x-forwarded-for': '203.0.113.9, 10.0.0.2',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'relay.example',
    });
  });

  it('strips Google, auth and hop-by-hop headers from the answer', () => {
    const headers = new Headers({
      'content-type': 'text/plain',
      'x-goog-x': '1',
      'x-google-y': '1',
      'www-authenticate': 'Bearer',
      'transfer-encoding': 'chunked',
      'x-app': 'yes',
      'set-cookie': 'a=b',
    });
    expect(responseHeaders(headers)).toEqual({ 'content-type': 'text/plain', 'x-app': 'yes' });
  });
});

describe('logs', () => {
  it('writes one JSON object per line and masks tokens and configured secrets', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l), secrets: ['hunter2-secret'] });
    log
      .child({ route: 'r' })
      .error('failed', { detail: 'used hunter2-secret with eyJhbGciOi.eyJzdWIiOiIxIn0.c2lnbmF0dXJl', error: new Error('boom') });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({ severity: 'ERROR', message: 'failed', route: 'r', error: { name: 'Error', message: 'boom' } });
    expect(entry.error.stack).toBeUndefined();
    expect(lines[0]).not.toContain('hunter2-secret');
    expect(lines[0]).not.toContain('eyJhbGciOi');
  });

  it('links traces from traceparent or X-Cloud-Trace-Context', () => {
    expect(traceFields({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, 'p')).toEqual({
      'logging.googleapis.com/trace': 'projects/p/traces/4bf92f3577b34da6a3ce929d0e0e4736',
      'logging.googleapis.com/spanId': '00f067aa0ba902b7',
    });
    expect(traceFields({ 'x-cloud-trace-context': '105445aa7843bc8bf206b12000100000/1;o=1' }, 'p')['logging.googleapis.com/trace']).toBe(
      'projects/p/traces/105445aa7843bc8bf206b12000100000',
    );
    expect(traceFields({ traceparent: 'garbage' })).toEqual({});
  });
});

describe('verification schemes', () => {
  const secretCtx = (values: Record<string, string>) => ({ secret: (name: string) => values[name]! });

  it("accepts GitHub's published test vector and any of several rotated secrets", () => {
    const verifier = github.create(
      { scheme: 'github', secretEnv: ['NEW', 'OLD'] },
      secretCtx({ NEW: 'new-secret', OLD: "It's a Secret to Everybody" }),
    );
    const result = verifier.verify({
      headers: {
        'x-hub-signature-256': 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
        'x-github-delivery': 'd1',
        'x-github-event': 'ping',
      },
      rawBody: Buffer.from('Hello, World!'),
      now: 0,
    });
    expect(result).toEqual({ deliveryId: 'd1', eventType: 'ping' });
  });

  it.each([
    ['no header', {}, 'Missing X-Hub-Signature-256 header'],
    ['sha1 prefix', { 'x-hub-signature-256': 'sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' }, 'Malformed'],
    ['short hex', { 'x-hub-signature-256': 'sha256=7571' }, 'Malformed'],
    [
      'tampered',
      { 'x-hub-signature-256': 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18' },
      'Signature does not match',
    ],
  ])('refuses a GitHub delivery with %s', (_name, headers, message) => {
    const verifier = github.create({ scheme: 'github', secretEnv: ['S'] }, secretCtx({ S: "It's a Secret to Everybody" }));
    expect(() => verifier.verify({ headers, rawBody: Buffer.from('Hello, World!'), now: 0 })).toThrow(message);
  });

  it('compares bearer secrets exactly', () => {
    const verifier = bearer.create({ scheme: 'bearer', secretEnv: ['B'] }, secretCtx({ B: 'abc123' }));
    expect(verifier.verify({ headers: { authorization: 'Bearer abc123' }, rawBody: Buffer.alloc(0), now: 0 })).toEqual({});
    for (const authorization of ['Bearer abc1234', 'Bearer abc12', 'Basic abc123', 'abc123']) {
      expect(() => verifier.verify({ headers: { authorization }, rawBody: Buffer.alloc(0), now: 0 })).toThrow();
    }
  });
});

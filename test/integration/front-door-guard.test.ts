/**
 * The one patch of the Functions Framework: the front-door guard around its
 * Express `handle`. Pinned to the framework version it was written against, so
 * an upgrade fails here first, and checked to leave no state behind.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { describe, expect, it } from 'vitest';
import {
  GUARDED_FRAMEWORK_VERSION,
  frameworkExpress,
  installFrontDoor,
  parseForFramework,
  toRelayError,
} from '../../functions/front-door.js';
import { webhookDoorPolicy } from '../../shared/door/policy.js';
import { RelayError } from '../../shared/errors.js';

const policy = webhookDoorPolicy({ routes: {} } as never);

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('the front-door guard', () => {
  it('is pinned to the installed Functions Framework version', () => {
    const require = createRequire(import.meta.url);
    const pkg = join(dirname(require.resolve('@google-cloud/functions-framework')), '../../package.json');
    expect(JSON.parse(readFileSync(pkg, 'utf8')).version).toBe(GUARDED_FRAMEWORK_VERSION);
  });

  it('wraps the Express handle while installed and restores it on uninstall', () => {
    const express = frameworkExpress();
    const original = express.application.handle;
    const uninstall = installFrontDoor({ policy });
    expect(express.application.handle).not.toBe(original);
    uninstall();
    expect(express.application.handle).toBe(original);
    uninstall();
    expect(express.application.handle).toBe(original);
  });

  it('guards a server built while installed, and only that one', async () => {
    http('guard-on', (_req, res) => void res.send('reached'));
    http('guard-off', (_req, res) => void res.send('reached'));
    const uninstall = installFrontDoor({ policy });
    const guarded = getTestServer('guard-on');
    uninstall();
    const plain = getTestServer('guard-off');
    const [on, off] = [await listen(guarded), await listen(plain)];
    try {
      const refused = await fetch(`${on}/anything`, { method: 'POST', body: 'x'.repeat(64 * 1024) });
      expect(refused.status).toBe(413);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
      const notGuarded = await fetch(`${off}/anything`, { method: 'POST', body: 'x'.repeat(64 * 1024) });
      expect(notGuarded.status).toBe(200);
      // The guard set the server's header and request timeouts from the policy (the framework turns them off).
      expect(guarded.headersTimeout).toBe(policy.headersTimeoutMs);
      expect(guarded.requestTimeout).toBe(policy.requestTimeoutMs);
      const long = await fetch(`${on}/${'a'.repeat(3000)}`);
      expect(long.status).toBe(414);
    } finally {
      guarded.closeAllConnections();
      plain.closeAllConnections();
      await Promise.all([new Promise((r) => guarded.close(r)), new Promise((r) => plain.close(r))]);
    }
  });

  it('parses bodies for the CloudEvent pipeline as the framework would, any JSON value included', () => {
    expect(parseForFramework('application/json', Buffer.from('null'))).toBeNull();
    expect(parseForFramework('application/cloudevents+json; charset=utf-8', Buffer.from('{"a":1}'))).toEqual({ a: 1 });
    expect(parseForFramework('text/plain', Buffer.from('hi'))).toBe('hi');
    expect(parseForFramework(undefined, Buffer.from([1, 2]))).toEqual(Buffer.from([1, 2]));
    expect(parseForFramework('application/json', Buffer.from('{'))).toBeInstanceOf(RelayError);
  });

  it('turns errors Express passes on into the relay errors: 4xx as bad_request, the rest internal', () => {
    expect(toRelayError(Object.assign(new Error('URIError'), { status: 400 })).code).toBe('bad_request');
    expect(toRelayError(new Error('boom')).code).toBe('internal');
    const own = new RelayError('not_found', 'x');
    expect(toRelayError(own)).toBe(own);
  });
});

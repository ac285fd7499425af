/**
 * The functions run their work outside the Functions Framework's per-request
 * domain (functions/own-domain.ts), served by the framework's own wrappers.
 * A function registered without the wrapper is the control: it does see the
 * domain, so the test can tell the two apart.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { cloudEvent, http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { outsideFrameworkDomain } from '../../functions/own-domain.js';

type Seen = { before: boolean; afterAwait: boolean };
const domainActive = () => Boolean((process as { domain?: unknown }).domain);
const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 1));

const seen = new Map<string, Seen>();
http(
  'own-domain-wrapped',
  outsideFrameworkDomain(async (_req, res) => {
    const before = domainActive();
    await tick();
    seen.set('wrapped', { before, afterAwait: domainActive() });
    res.status(200).json({ ok: true });
  }),
);
http('own-domain-control', async (_req, res) => {
  const before = domainActive();
  await tick();
  seen.set('control', { before, afterAwait: domainActive() });
  res.status(200).json({ ok: true });
});
cloudEvent(
  'own-domain-event',
  outsideFrameworkDomain(async () => {
    const before = domainActive();
    await tick();
    seen.set('event', { before, afterAwait: domainActive() });
  }),
);
cloudEvent(
  'own-domain-event-throws',
  outsideFrameworkDomain(async () => {
    await tick();
    throw new Error('nack me');
  }),
);

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

async function call(name: string, init: RequestInit): Promise<Response> {
  server = getTestServer(name) as Server;
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, init);
}

const event = {
  method: 'POST',
  body: '{"message":{"data":""}}',
  headers: { 'content-type': 'application/json', 'ce-id': '1', 'ce-type': 't', 'ce-source': 's', 'ce-specversion': '1.0' },
};

describe('work outside the framework domain', () => {
  it('the control HTTP function runs inside the framework domain, before and after an await', async () => {
    expect((await call('own-domain-control', { method: 'POST' })).status).toBe(200);
    expect(seen.get('control')).toEqual({ before: true, afterAwait: true });
  });

  it('a wrapped HTTP function runs with no active domain, before and after an await', async () => {
    expect((await call('own-domain-wrapped', { method: 'POST' })).status).toBe(200);
    expect(seen.get('wrapped')).toEqual({ before: false, afterAwait: false });
  });

  it('a wrapped CloudEvent function runs with no active domain and is answered 204', async () => {
    expect((await call('own-domain-event', event)).status).toBe(204);
    expect(seen.get('event')).toEqual({ before: false, afterAwait: false });
  });

  it("a wrapped CloudEvent function's rejection still reaches the framework: 500, so Pub/Sub redelivers", async () => {
    expect((await call('own-domain-event-throws', event)).status).toBe(500);
  });

  it('leaves a domain it ran under active again when it returns', async () => {
    const { create } = await import('node:domain');
    const d = create();
    let inside: unknown = 'unset';
    d.run(() => {
      outsideFrameworkDomain(() => {
        inside = (process as { domain?: unknown }).domain;
      })();
      expect((process as { domain?: unknown }).domain).toBe(d);
    });
    expect(inside).toBeUndefined();
  });
});

import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { createRuntime } from '../../functions/runtime.js';
import { parseConfig } from '../../shared/config/load.js';
import { openPubSub } from '../../shared/pubsub/publisher.js';

const pubsubLoaded = () => Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes('/@google-cloud/pubsub/'));

describe('lazy loading of the Pub/Sub client', () => {
  it('builds the runtime and answers webhook requests without loading @google-cloud/pubsub, which loads on first use', async () => {
    const loaded = parseConfig({
      targets: { svc: { url: 'http://127.0.0.1:9' } },
      routes: { hook: { verify: { scheme: 'none' }, mode: 'async', forward: [{ target: 'svc' }] } },
    });
    const runtime = createRuntime({ loaded, write: () => {}, source: { fetchIdToken: async () => 'token' } });
    const res = await runtime.relay.handle({ method: 'GET', path: '/healthz', query: '', headers: {}, rawBody: Buffer.alloc(0) });
    expect(res.status).toBe(200);
    expect(pubsubLoaded()).toBe(false);
    const client = await openPubSub({ projectId: 'lazy-test' });
    expect(pubsubLoaded()).toBe(true);
    await client.close();
  });
});

const firestoreLoaded = () => Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes('/@google-cloud/firestore/'));

describe('lazy loading of the Firestore client', () => {
  it('builds a runtime whose routes use `dedupe` without loading @google-cloud/firestore until the first reservation', async () => {
    const loaded = parseConfig({
      targets: { svc: { url: 'http://127.0.0.1:9' } },
      routes: { hook: { verify: { scheme: 'none' }, dedupe: { store: 'firestore' }, forward: [{ target: 'svc' }] } },
    });
    const runtime = createRuntime({ loaded, write: () => {}, source: { fetchIdToken: async () => 'token' } });
    const res = await runtime.relay.handle({ method: 'GET', path: '/healthz', query: '', headers: {}, rawBody: Buffer.alloc(0) });
    expect(res.status).toBe(200);
    expect(firestoreLoaded()).toBe(false);
  });
});

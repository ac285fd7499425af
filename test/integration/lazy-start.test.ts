/**
 * What the deployed entry point (the one-file bundle `npm run build` writes,
 * deploy/bundle.ts) loads at start-up, in a fresh process: nothing but itself
 * and the framework for a JSON config; the YAML parser only for a YAML
 * config; never the Pub/Sub client before a publish. These pin the lazy
 * loading that cold start depends on (docs/bench.md, "Cold start").
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startMetadataServer } from '../emulators/metadata-server.js';
import { startPrivateTarget } from '../emulators/private-target.js';
import { startFramework } from '../support/framework-process.js';
import { githubSignature } from '../support/sign.js';

const root = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const config = {
  targets: { svc: { url: 'http://127.0.0.1:9' } },
  routes: { github: { verify: { scheme: 'github', secretEnv: 'GITHUB_WEBHOOK_SECRET' }, forward: [{ target: 'svc' }] } },
};

// Imports the built entry point, then prints every JavaScript file the process has loaded (ESM and CommonJS).
const PROBE = `
import { createRequire, register } from 'node:module';
const loaded = new Set();
const { port1, port2 } = new MessageChannel();
port1.on('message', (url) => loaded.add(url)); port1.unref();
register('data:text/javascript,' + encodeURIComponent("let port; export function initialize(d) { port = d.port; } export async function load(url, context, next) { port.postMessage(url); return next(url, context); }"), { data: { port: port2 }, transferList: [port2] });
await import(process.env.ENTRY);
await new Promise((r) => setTimeout(r, 50));
const cjs = Object.keys(createRequire(import.meta.url).cache).map((p) => 'file://' + p);
process.stderr.write('LOADED ' + JSON.stringify([...loaded, ...cjs].filter((u) => u.startsWith('file:'))) + String.fromCharCode(10));
process.exit(0);
`;

async function loadedAtStart(configFile: string): Promise<string[]> {
  const env = {
    ...process.env,
    RELAY_CONFIG: configFile,
    GITHUB_WEBHOOK_SECRET: 'lazy-secret',
    GCE_METADATA_HOST: '127.0.0.1:9',
    GOOGLE_CLOUD_PROJECT: 'lazy-project',
    NODE_ENV: 'test',
    ENTRY: join(root, 'dist/functions/index.js'),
  };
  // The relay logs on stdout (an ID token fetch fails: nothing listens on port 9); the list comes on stderr.
  const { stderr } = await run(process.execPath, ['--input-type=module', '-e', PROBE], { cwd: root, env });
  const line = stderr.split('\n').find((l) => l.startsWith('LOADED '));
  if (!line) throw new Error(`the probe printed no list: ${stderr}`);
  return JSON.parse(line.slice('LOADED '.length)) as string[];
}

const under = (urls: string[], dir: string) => urls.filter((u) => u.includes(`/node_modules/${dir}/`));

describe('what the built entry point loads at start-up', () => {
  it('loads one file of its own, no YAML parser for a JSON config and no Pub/Sub client', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'relay-lazy-')), 'relay.config.json');
    writeFileSync(file, JSON.stringify(config));
    const urls = await loadedAtStart(file);
    // The entry point is the only module of its own; it reads the bundle, relay.cjs, and runs it through node:vm.
    const own = urls.filter((u) => u.startsWith(`file://${root}/`) && !u.includes('/node_modules/'));
    expect(own).toEqual([`file://${join(root, 'dist/functions/index.js')}`]);
    for (const dir of ['yaml', '@google-cloud/pubsub', '@google-cloud/firestore', 'zod', 'google-auth-library'])
      expect(under(urls, dir)).toEqual([]);
    // The clients loaded on first use stay out of the bundle too: a require() run inside a promise, on first use.
    const bundle = readFileSync(join(root, 'dist/functions/relay.cjs'), 'utf8');
    for (const lazy of ['@google-cloud/pubsub', '@google-cloud/firestore'])
      expect(bundle).toContain(`await Promise.resolve().then(()=>__toESM(require("${lazy}"),1))`);
    // zod's locales stay out (`import * as z`): only English, which zod itself configures.
    // The bundle keeps no comments (minifyWhitespace): what went into it is read from its source map.
    const { sources } = JSON.parse(readFileSync(join(root, 'dist/functions/relay.cjs.map'), 'utf8')) as { sources: string[] };
    expect(
      sources.filter((source) => /node_modules\/zod\/v4\/locales\//.test(source)).map((source) => source.replace(/^.*node_modules\//, '')),
    ).toEqual(['zod/v4/locales/en.js']);
  });

  it('loads the YAML parser for a YAML config', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'relay-lazy-')), 'relay.config.yaml');
    writeFileSync(file, stringify(config));
    const urls = await loadedAtStart(file);
    expect(under(urls, 'yaml').length).toBeGreaterThan(0);
    expect(under(urls, '@google-cloud/pubsub')).toEqual([]);
    expect(under(urls, '@google-cloud/firestore')).toEqual([]);
  });
});

// Preloaded into the function's process: on SIGUSR2, prints whether Node's built-in fetch (undici) was ever loaded.
const UNDICI_PROBE =
  'data:text/javascript,' +
  encodeURIComponent(
    "process.on('SIGUSR2', () => process.stderr.write('UNDICI ' + process.moduleLoadList.includes('NativeModule internal/deps/undici/undici') + String.fromCharCode(10)));",
  );

describe('what the built entry point loads to relay', () => {
  it("mints an ID token and relays without loading Node's built-in fetch (deploy/bundle-globals.ts)", async () => {
    const metadata = await startMetadataServer();
    const target = await startPrivateTarget({ keys: () => [metadata.key.jwk] });
    const file = join(mkdtempSync(join(tmpdir(), 'relay-lazy-')), 'relay.config.json');
    writeFileSync(file, JSON.stringify({ ...config, targets: { svc: { url: target.url } } }));
    const { RELAY_CONFIG: _ignored, ...env } = process.env;
    const running = await startFramework({
      cwd: root,
      args: ['--target=webhook', `--source=${join(root, 'dist/functions/index.js')}`],
      nodeArgs: ['--import', UNDICI_PROBE],
      env: { ...env, NODE_ENV: 'test', RELAY_CONFIG: file, GITHUB_WEBHOOK_SECRET: 'lazy-secret', GCE_METADATA_HOST: metadata.host },
    });
    try {
      const body = '{"zen":"hi"}';
      const answer = await fetch(`${running.url}/github`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'ping',
          'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
          'x-hub-signature-256': githubSignature('lazy-secret', body),
        },
      });
      expect(answer.status, running.output()).toBe(200);
      // The relayed request reached the target with a token google-auth-library fetched from the metadata server.
      expect(target.received).toHaveLength(1);
      expect(metadata.totalIdentityRequests()).toBe(1);
      running.child.kill('SIGUSR2');
      const deadline = Date.now() + 5000;
      while (!/UNDICI (true|false)/.test(running.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(running.output()).toContain('UNDICI false');
    } finally {
      await running.stop();
      await target.close();
      await metadata.close();
    }
  });
});

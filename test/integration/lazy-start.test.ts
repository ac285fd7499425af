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
    const own = urls.filter((u) => u.startsWith(`file://${root}/`) && !u.includes('/node_modules/'));
    expect(own).toEqual([`file://${join(root, 'dist/functions/index.js')}`]);
    for (const dir of ['yaml', '@google-cloud/pubsub', '@google-cloud/firestore', 'zod', 'google-auth-library'])
      expect(under(urls, dir)).toEqual([]);
    // The clients loaded on first use stay out of the bundle too: a runtime import, not code parsed at start.
    const bundle = readFileSync(join(root, 'dist/functions/index.js'), 'utf8');
    for (const lazy of ['@google-cloud/pubsub', '@google-cloud/firestore']) expect(bundle).toContain(`import("${lazy}")`);
    // zod's locales stay out (`import * as z`): only English, which zod itself configures.
    // The bundle keeps no comments (minifyWhitespace): what went into it is read from its source map.
    const { sources } = JSON.parse(readFileSync(join(root, 'dist/functions/index.js.map'), 'utf8')) as { sources: string[] };
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

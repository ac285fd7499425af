/**
 * The functions' bundle runs from V8's code cache that `npm run build` makes
 * (functions/bundle-loader.ts, deploy/code-cache.ts), and from its source
 * whenever that cache does not fit: none, made for other bytes, refused by
 * V8 (other flags, another V8). Each load runs in a fresh process, as an
 * instance starts.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CODE_CACHE_NODE_OPTIONS, trainCodeCache } from '../../deploy/code-cache.js';

const root = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const LOADER = join(root, 'dist/functions/bundle-loader.js');

/** Loads `bundle` in a fresh node (with `flags`), optionally writes its cache; resolves with what it printed. */
async function loadIn(bundle: string, o: { flags?: string[]; write?: boolean; env?: NodeJS.ProcessEnv } = {}) {
  const script = `
    const { loadBundle, cacheFileOf } = await import(${JSON.stringify(LOADER)});
    const loaded = loadBundle(process.env.BUNDLE);
    if (process.env.WRITE) loaded.writeCache(cacheFileOf(process.env.BUNDLE));
    process.stdout.write(JSON.stringify({ cache: loaded.cache, exports: loaded.exports }));
    process.exit(0);`;
  const { stdout } = await run(process.execPath, [...(o.flags ?? []), '--input-type=module', '-e', script], {
    cwd: root,
    env: { ...process.env, ...o.env, BUNDLE: bundle, ...(o.write ? { WRITE: '1' } : {}) },
  });
  return JSON.parse(stdout) as { cache: string; exports: Record<string, unknown> };
}

function sampleBundle(answer: string): string {
  return [
    '(function (exports, require, module, __filename, __dirname, __relayBundleUrl) {',
    '"use strict";',
    `const { basename } = require('node:path');`,
    `function where() { return new Error('here').stack.split('\\n')[1].trim(); }`,
    `module.exports = { answer: ${JSON.stringify(answer)}, file: basename(__filename), url: __relayBundleUrl, where: where(), self: this === exports };`,
    '})',
    '',
  ].join('\n');
}

/** The environment the real bundle needs to load: a one-route config and its secret (nothing listens on port 9). */
function relayEnv(): NodeJS.ProcessEnv {
  const config = join(mkdtempSync(join(tmpdir(), 'relay-cache-')), 'relay.config.json');
  writeFileSync(
    config,
    JSON.stringify({
      targets: { svc: { url: 'http://127.0.0.1:9' } },
      routes: { github: { verify: { scheme: 'github', secretEnv: 'GITHUB_WEBHOOK_SECRET' }, forward: [{ target: 'svc' }] } },
    }),
  );
  return { RELAY_CONFIG: config, GITHUB_WEBHOOK_SECRET: 'cache-secret', GCE_METADATA_HOST: '127.0.0.1:9', NODE_ENV: 'test' };
}

describe('the bundle and its code cache', () => {
  it('runs a CommonJS bundle from source without a cache, then from the cache it wrote', async () => {
    const bundle = join(mkdtempSync(join(tmpdir(), 'relay-cache-')), 'relay.cjs');
    writeFileSync(bundle, sampleBundle('first'));
    const first = await loadIn(bundle, { write: true });
    expect(first.cache).toBe('none');
    expect(first.exports).toEqual({
      answer: 'first',
      file: 'relay.cjs',
      url: `file://${bundle}`,
      // Frames keep the file's own lines and columns.
      where: `at where (file://${bundle}:4:27)`,
      self: true,
    });
    const again = await loadIn(bundle);
    expect(again).toEqual({ ...first, cache: 'accepted' });
  });

  it('compiles from source when the cache was made for other bytes, even of the same length', async () => {
    const bundle = join(mkdtempSync(join(tmpdir(), 'relay-cache-')), 'relay.cjs');
    writeFileSync(bundle, sampleBundle('aaaa'));
    await loadIn(bundle, { write: true });
    writeFileSync(bundle, sampleBundle('bbbb'));
    const changed = await loadIn(bundle);
    expect(changed.cache).toBe('stale');
    expect(changed.exports.answer).toBe('bbbb');
  });

  it('compiles from source when V8 refuses the cache: other flags, or data that is not a cache', async () => {
    const bundle = join(mkdtempSync(join(tmpdir(), 'relay-cache-')), 'relay.cjs');
    writeFileSync(bundle, sampleBundle('flags'));
    await loadIn(bundle, { write: true });
    const otherFlags = await loadIn(bundle, { flags: ['--max-semi-space-size=32'] });
    expect(otherFlags.cache).toBe('rejected');
    expect(otherFlags.exports.answer).toBe('flags');
    const cache = readFileSync(`${bundle}.cache`);
    cache.fill(7, 32); // the bundle's hash kept, V8's data replaced
    writeFileSync(`${bundle}.cache`, cache);
    const garbage = await loadIn(bundle);
    expect(garbage.cache).toBe('rejected');
    expect(garbage.exports.answer).toBe('flags');
  });

  it('the cache `npm run build` wrote is the built bundle’s, and V8 takes it', async () => {
    const env = relayEnv();
    const loaded = await loadIn(join(root, 'dist/functions/relay.cjs'), { env });
    expect(loaded.cache).toBe('accepted');
  });

  it("is made under the deployed functions' NODE_OPTIONS when the build is told them, so V8 takes it there", async () => {
    const env = relayEnv();
    // Beside node_modules, so the bundle resolves its externals; the same bytes as the build's, with its own cache.
    const dir = mkdtempSync(join(root, 'dist/cache-flags-'));
    try {
      const bundle = join(dir, 'relay.cjs');
      copyFileSync(join(root, 'dist/functions/relay.cjs'), bundle);
      const flags = ['--max-old-space-size=256'];
      const previous = process.env[CODE_CACHE_NODE_OPTIONS];
      process.env[CODE_CACHE_NODE_OPTIONS] = flags.join(' ');
      try {
        await trainCodeCache(root, { cacheFile: `${bundle}.cache` });
      } finally {
        if (previous === undefined) delete process.env[CODE_CACHE_NODE_OPTIONS];
        else process.env[CODE_CACHE_NODE_OPTIONS] = previous;
      }
      expect((await loadIn(bundle, { env, flags })).cache).toBe('accepted');
      // The build's own cache, made without those flags, is what V8 refuses under them.
      copyFileSync(join(root, 'dist/functions/relay.cjs.cache'), `${bundle}.cache`);
      expect((await loadIn(bundle, { env, flags })).cache).toBe('rejected');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

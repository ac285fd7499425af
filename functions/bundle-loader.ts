/**
 * Runs the functions' bundle (`dist/functions/relay.cjs`, deploy/bundle.ts)
 * with V8's code cache: `npm run build` starts the built function once,
 * relays one webhook through it and saves the bytecode V8 compiled on the
 * way (deploy/code-cache.ts); a new instance then compiles the bundle from
 * that cache instead of parsing and compiling it again, the start-up path
 * and the first request's included (docs/bench.md, "Cold start").
 *
 * The cache file is a SHA-256 of the bundle's bytes, then V8's data. A
 * missing cache, one made for other bytes (a hash that does not match) and
 * one V8 rejects (another Node or V8 version, other flags) all end the same
 * way: the bundle is compiled from its source, as any module would be.
 *
 * The bundle is CommonJS written inside its function wrapper
 * ({@link BUNDLE_HEAD} and {@link BUNDLE_TAIL}, esbuild's banner and footer):
 * the function Node's own loader wraps a `.cjs` file in, with one extra
 * parameter for what `import.meta.url` was in the sources (esbuild's
 * `define`). V8 compiles the file's text as it is, with no copy to wrap it,
 * and stack traces and the source map keep the file's own lines.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Script } from 'node:vm';

/** The name the bundle's sources use for `import.meta.url` (deploy/bundle.ts defines it). */
export const BUNDLE_URL_NAME = '__relayBundleUrl';
/** The bundle's first line and last text: a function expression the loader calls as Node calls a module. */
export const BUNDLE_HEAD = `(function (exports, require, module, __filename, __dirname, ${BUNDLE_URL_NAME}) {`;
export const BUNDLE_TAIL = '})';
const HASH_BYTES = 32;

/** What became of the code cache: used, none beside the bundle, made for other bytes, or refused by V8. */
export type CodeCacheState = 'accepted' | 'none' | 'stale' | 'rejected';

export interface LoadedBundle {
  /** The bundle's `module.exports`. */
  exports: unknown;
  cache: CodeCacheState;
  /** Writes V8's code cache of the bundle as it stands now (everything compiled so far) to `file`. */
  writeCache(file: string): void;
}

/** The code cache beside a bundle: `relay.cjs` → `relay.cjs.cache`. */
export function cacheFileOf(bundleFile: string): string {
  return `${bundleFile}.cache`;
}

function sha256(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** Compiles and runs the CommonJS bundle `bundleFile`, from its code cache when that is there and fits. */
export function loadBundle(file: string, cacheFile = cacheFileOf(file)): LoadedBundle {
  const bundleFile = resolve(file);
  const bytes = readFileSync(bundleFile);
  const hash = sha256(bytes);
  let cachedData: Buffer | undefined;
  let cache: CodeCacheState = 'none';
  try {
    const file = readFileSync(cacheFile);
    if (file.length > HASH_BYTES && file.subarray(0, HASH_BYTES).equals(hash)) cachedData = file.subarray(HASH_BYTES);
    else cache = 'stale';
  } catch {
    // No cache: compiled from the source.
  }
  const url = pathToFileURL(bundleFile).href;
  const script = new Script(bytes.toString('utf8'), { filename: url, cachedData });
  if (cachedData) cache = script.cachedDataRejected ? 'rejected' : 'accepted';
  const module = { exports: {} as unknown };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run.call(module.exports, module.exports, createRequire(bundleFile), module, bundleFile, dirname(bundleFile), url);
  return {
    exports: module.exports,
    cache,
    writeCache(file) {
      // Written beside it, then renamed over it: a start reading the cache meanwhile sees the old file or the new one.
      const partial = `${file}.${process.pid}.partial`;
      writeFileSync(partial, Buffer.concat([hash, script.createCachedData()]));
      renameSync(partial, file);
    },
  };
}

/** {@link loadBundle} for a `file:` URL (an entry point's `new URL('./relay.cjs', import.meta.url)`). */
export function loadBundleAt(url: URL): LoadedBundle {
  return loadBundle(fileURLToPath(url));
}

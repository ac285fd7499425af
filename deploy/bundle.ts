/**
 * Bundles the functions into one file, `dist/functions/relay.cjs`, with
 * esbuild, and writes the entry point that runs it, `dist/functions/index.js`
 * (the `main` of package.json, functions/entry.ts): what Cloud Functions runs
 * after `gcp-build` (`npm run build`), what `npm start` serves and what the
 * entry-point tests and the bench start. One file instead of some 450 modules
 * and their resolution is most of what the relay's cold start was made of
 * (docs/bench.md, "Cold start"). `npm run build` then makes V8's code cache
 * for the bundle (deploy/code-cache.ts, functions/bundle-loader.ts).
 *
 * Left out of the bundle, resolved from node_modules at run time:
 * - `@google-cloud/functions-framework`: the framework's CLI loads this file
 *   and registers its functions in its own copy of the module;
 * - `@google-cloud/pubsub`: loaded on the first publish (shared/pubsub/publisher.ts);
 * - `@google-cloud/firestore`: loaded on the first de-duplication call, only when a route or target has `dedupe`
 *   (shared/dedupe/firestore-store.ts);
 * - `yaml`: loaded only for a YAML config (shared/config/yaml.ts);
 * - `web-streams-polyfill`: node-fetch's fallback (through fetch-blob) for a
 *   Node without web streams, never taken on Node 20 or 22; 184 KB less to parse.
 * The framework's Express is reached through `createRequire` (functions/front-door.ts).
 *
 * Run as `tsx deploy/bundle.ts` (the second half of `npm run build`: bundle, entry, code cache).
 */
import { build, type OutputFile } from 'esbuild';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLE_HEAD, BUNDLE_TAIL, BUNDLE_URL_NAME } from '../functions/bundle-loader.js';
import { trainCodeCache } from './code-cache.js';

export const BUNDLE_EXTERNAL = [
  '@google-cloud/functions-framework',
  '@google-cloud/pubsub',
  '@google-cloud/firestore',
  'yaml',
  'web-streams-polyfill',
];

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  external: BUNDLE_EXTERNAL,
  sourcemap: true,
  // No comments or indentation: V8 keeps a module's whole source on the heap for as long as the process runs (lazy
  // compilation, `toString`), and a few non-ASCII characters in comments made it a two-byte string: 2.84 MiB of live
  // heap for 1.49 MB of source. Without them it is 1.07 MB of one-byte text (docs/bench.md, "Memory"). Names are
  // kept, and the source map still maps every frame to its file and line.
  minifyWhitespace: true,
  legalComments: 'none',
  logLevel: 'warning',
} as const;

/**
 * Writes esbuild's output files whole: each is written beside its place and renamed over it, and one whose bytes
 * are already there is left alone. `npm start` rebuilds while a built function may be starting (the tests run
 * both at once), and a start must never read a half-written bundle.
 */
function writeOutputs(files: readonly OutputFile[]): void {
  for (const file of files) {
    let current: Buffer | undefined;
    try {
      current = readFileSync(file.path);
    } catch {
      // Not built yet.
    }
    if (current?.equals(file.contents)) continue;
    mkdirSync(dirname(file.path), { recursive: true });
    const partial = `${file.path}.${process.pid}.partial`;
    writeFileSync(partial, file.contents);
    renameSync(partial, file.path);
  }
}

/**
 * Writes the bundle `dist/functions/relay.cjs` (and its source map) and the
 * entry point that runs it, `dist/functions/index.js`, under `root`;
 * resolves with the entry's path. A code cache left by an earlier build
 * stays until the next one replaces it: the loader uses it only if it was
 * made for these very bytes (the same sources bundle to the same bytes).
 */
export async function bundleFunctions(root: string): Promise<string> {
  const dir = join(root, 'dist/functions');
  const bundleFile = join(dir, 'relay.cjs');
  // CommonJS, because only a script (not an ES module) compiles from a code cache without flags (functions/bundle-loader.ts).
  // The clients loaded on first use become `require()` calls inside a promise: still loaded when first needed.
  const bundled = await build({
    ...common,
    write: false,
    absWorkingDir: root,
    entryPoints: [join(root, 'functions/index.ts')],
    outfile: bundleFile,
    format: 'cjs',
    define: { 'import.meta.url': BUNDLE_URL_NAME },
    // A script compiled by node:vm has no `import()` without an experimental loader: esbuild makes each one a require().
    supported: { 'dynamic-import': false },
    // gaxios's `Headers`/`FormData` are node-fetch's, not Node's lazily loaded fetch globals (deploy/bundle-globals.ts).
    inject: [join(root, 'deploy/bundle-globals.ts')],
    banner: { js: BUNDLE_HEAD },
    footer: { js: BUNDLE_TAIL },
  });
  // The entry point: the loader alone, a few KB of ES module.
  const entry = join(dir, 'index.js');
  const entryBuilt = await build({
    ...common,
    write: false,
    absWorkingDir: root,
    entryPoints: [join(root, 'functions/entry.ts')],
    outfile: entry,
    format: 'esm',
  });
  writeOutputs([...bundled.outputFiles, ...entryBuilt.outputFiles]);
  return entry;
}

/** `npm run build`'s part after tsc: the bundle, its entry, then V8's code cache for it (deploy/code-cache.ts). */
export async function buildFunctions(root: string): Promise<string> {
  const entry = await bundleFunctions(root);
  try {
    await trainCodeCache(root, { entry });
  } catch (error) {
    // A build without a cache still works: the bundle is compiled from source at start, as before.
    process.stderr.write(`warning: no code cache for the functions' bundle: ${(error as Error).message}\n`);
  }
  return entry;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildFunctions(resolve(dirname(fileURLToPath(import.meta.url)), '..'));
}

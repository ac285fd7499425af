/**
 * Bundles the functions' entry point into one file, `dist/functions/index.js`
 * (the `main` of package.json), with esbuild: what Cloud Functions runs after
 * `gcp-build` (`npm run build`), what `npm start` serves and what the
 * entry-point tests and the bench start. One file instead of some 450 modules
 * and their resolution is most of what the relay's cold start was made of
 * (docs/bench.md, "Cold start").
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
 * Run as `tsx deploy/bundle.ts` (the second half of `npm run build`).
 */
import { build } from 'esbuild';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BUNDLE_EXTERNAL = [
  '@google-cloud/functions-framework',
  '@google-cloud/pubsub',
  '@google-cloud/firestore',
  'yaml',
  'web-streams-polyfill',
];

/** Writes `dist/functions/index.js` (and its source map) under `root`; resolves with its path. */
export async function bundleFunctions(root: string): Promise<string> {
  const outfile = join(root, 'dist/functions/index.js');
  await build({
    absWorkingDir: root,
    entryPoints: [join(root, 'functions/index.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: BUNDLE_EXTERNAL,
    sourcemap: true,
    // No comments or indentation: V8 keeps a module's whole source on the heap for as long as the process runs (lazy
    // compilation, `toString`), and a few non-ASCII characters in comments made it a two-byte string: 2.84 MiB of live
    // heap for 1.49 MB of source. Without them it is 1.07 MB of one-byte text (docs/bench.md, "Memory"). Names are
    // kept, and the source map still maps every frame to its file and line.
    minifyWhitespace: true,
    // The bundled CommonJS libraries (google-auth-library, gaxios, ...) call require() for Node's modules.
    banner: {
      js: "import { createRequire as __relayCreateRequire } from 'node:module';\nconst require = __relayCreateRequire(import.meta.url);",
    },
    // gaxios's `Headers`/`FormData` are node-fetch's, not Node's lazily loaded fetch globals (deploy/bundle-globals.ts).
    inject: [join(root, 'deploy/bundle-globals.ts')],
    legalComments: 'none',
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundleFunctions(resolve(dirname(fileURLToPath(import.meta.url)), '..'));
}

/**
 * The deployed entry point (`main` of package.json, `dist/functions/index.js`
 * after `npm run build`): runs the functions' bundle, `relay.cjs` beside it
 * (functions/index.ts and everything it imports, deploy/bundle.ts), from
 * V8's code cache when the build left one that fits (functions/bundle-loader.ts).
 *
 * `npm run build` starts this file once to make that cache
 * (deploy/code-cache.ts): with RELAY_CODE_CACHE_OUT set and an IPC channel
 * to its parent, the message `write-code-cache` writes the cache there.
 */
import { loadBundleAt } from './bundle-loader.js';

const bundle = loadBundleAt(new URL('./relay.cjs', import.meta.url));

const out = process.env.RELAY_CODE_CACHE_OUT;
if (out && process.send) {
  process.on('message', (message) => {
    if (message !== 'write-code-cache') return;
    bundle.writeCache(out);
    process.send!({ written: out, cache: bundle.cache });
  });
}

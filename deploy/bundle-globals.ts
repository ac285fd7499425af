/**
 * Injected into the functions' bundle by deploy/bundle.ts (esbuild's `inject`): inside the bundle, and only
 * there, the free identifiers `Headers` and `FormData` mean node-fetch's classes instead of Node's globals.
 *
 * Why: gaxios (under google-auth-library) builds a `Headers` for every request and tests `instanceof FormData`,
 * and Node's global `Headers`/`FormData` are lazy getters that load Node's whole built-in fetch (undici, with its
 * WebAssembly HTTP parser) on first touch, about 2 MiB of live heap and some 10 ms before the first relayed
 * answer. gaxios sends every request with node-fetch anyway, which brings its own `Headers` and `FormData`;
 * the relay never calls the global `fetch`. Nothing outside the bundle sees a difference: `globalThis` is not
 * touched. Pinned by test/integration/lazy-start.test.ts.
 */
export { FormData, Headers } from 'node-fetch';

/**
 * `npm run test:unit`: the pure core and the verifiers, straight from the
 * TypeScript sources (no build, no emulators, no child processes).
 */
import { defineConfig } from 'vitest/config';

/** Tests that assert what a fresh module graph has loaded: they cannot share one with the other files. */
const FRESH_GRAPH = ['test/unit/lazy-pubsub.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 10_000,
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/verify/**/*.test.ts'],
          exclude: FRESH_GRAPH,
          pool: 'threads',
          // The pure core keeps no module state worth isolating; sharing the module graph halves the import time.
          isolate: false,
          testTimeout: 10_000,
        },
      },
      { test: { name: 'unit (fresh module graph)', include: FRESH_GRAPH, pool: 'threads', isolate: true, testTimeout: 10_000 } },
    ],
  },
});

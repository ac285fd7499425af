/**
 * `npm run test:unit`: the pure core and the verifiers, straight from the
 * TypeScript sources (no build, no emulators, no child processes).
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/verify/**/*.test.ts'],
    pool: 'threads',
    // The pure core keeps no module state worth isolating; sharing the module graph halves the import time.
    isolate: false,
    testTimeout: 10_000,
    maxWorkers: 2,
  },
});

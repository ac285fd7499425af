import { describe, expect, it } from 'vitest';
import { moduleOf, summarizeProfile, unbundleProfile, type CpuProfile } from './profile.js';

const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0 });
const DIST = 'file:///app/dist';

/**
 * (root) -> handle (relay.js) -> log (log.js) -> stringify (native)
 *                             -> fetch (undici) -> writev (native)
 *        -> (idle), (garbage collector), emit (express)
 */
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 6, 7, 8] },
    { id: 2, callFrame: frame('handle', `${DIST}/shared/relay.js`), children: [3, 4] },
    { id: 3, callFrame: frame('log', `${DIST}/shared/log.js`), children: [9] },
    { id: 4, callFrame: frame('fetch', 'node:internal/deps/undici/undici'), children: [5] },
    { id: 5, callFrame: frame('writev') },
    { id: 6, callFrame: frame('(idle)') },
    { id: 7, callFrame: frame('(garbage collector)') },
    { id: 8, callFrame: frame('emit', 'file:///app/node_modules/express/lib/router.js') },
    { id: 9, callFrame: frame('stringify') },
  ],
  // One sample each; the time of sample i is timeDeltas[i + 1] (until the next one).
  samples: [9, 5, 6, 7, 8, 2, 9],
  timeDeltas: [0, 1000, 2000, 4000, 8000, 16000, 32000, 32000],
  startTime: 0,
  endTime: 95_000,
};

const stages = [
  { name: 'logging', match: (f: { url: string }) => f.url.endsWith('/shared/log.js') },
  { name: 'relay', match: (f: { url: string }) => f.url.includes('/dist/shared/') },
];

describe('CPU profile summary', () => {
  it.each([
    ['file:///app/dist/shared/forward/forward.js', 'relay shared/forward/forward.js'],
    ['file:///app/node_modules/@google-cloud/functions-framework/build/src/server.js', 'npm @google-cloud/functions-framework'],
    ['node:internal/deps/undici/undici', 'node undici (fetch)'],
    ['node:_http_server', 'node http'],
    ['node:internal/stream_base_commons', 'node net/streams'],
    ['node:domain', 'node domain/async_hooks'],
    ['node:internal/process/execution', 'node domain/async_hooks'],
    ['node:internal/worker/js_transferable', 'node AbortSignal'],
    ['node:events', 'node events'],
    ['', undefined],
  ])('puts a frame from %j in module %j', (url, expected) => {
    expect(moduleOf(url)).toBe(expected);
  });

  it('counts native frames in the module of their JS caller and leaves idle time out of busy time', () => {
    const summary = summarizeProfile(profile);
    expect(summary.idleMs).toBe(4);
    expect(summary.busyMs).toBe(1 + 2 + 8 + 16 + 32 + 32);
    expect(Object.fromEntries(summary.modules.map((m) => [m.name, m.ms]))).toEqual({
      'relay shared/log.js': 33,
      'node undici (fetch)': 2,
      'v8 garbage collector': 8,
      'npm express': 16,
      'relay shared/relay.js': 32,
    });
  });

  it('gives each sample to the innermost stage on its stack, and the rest to "outside"', () => {
    const summary = summarizeProfile(profile, { stages, outside: 'elsewhere' });
    expect(Object.fromEntries(summary.stages.map((s) => [s.name, s.ms]))).toEqual({ logging: 33, relay: 34, elsewhere: 24 });
    expect(summary.stages[0]!.share).toBeCloseTo(34 / 91);
  });

  it('counts only the samples in the last lastMs of the profile', () => {
    // Samples fall at t = 0, 1, 3, 7, 15, 31 and 63 ms; the profile ends at 95 ms, so the last 70 ms hold two.
    const summary = summarizeProfile(profile, { lastMs: 70 });
    expect(summary.busyMs).toBe(64);
    expect(summary.modules.map((m) => m.name).sort()).toEqual(['relay shared/log.js', 'relay shared/relay.js']);
  });

  it('lists the busiest functions by self time, with where they live', () => {
    const summary = summarizeProfile(profile, { top: 2 });
    expect(summary.functions.map((f) => [f.name, f.ms])).toEqual([
      ['stringify native', 33],
      ['handle shared/relay.js:1', 32],
    ]);
  });
});

describe('unbundleProfile', () => {
  it("names each frame of the bundle after the file it came from, so the relay's stages and modules read as unbundled", () => {
    const bundle = 'file:///repo/dist/functions/index.js';
    const frame = (id: number, url: string, lineNumber: number) => ({
      id,
      callFrame: { functionName: `f${id}`, url, lineNumber, columnNumber: 4 },
    });
    const profile: CpuProfile = {
      nodes: [frame(1, bundle, 10), frame(2, bundle, 20), frame(3, bundle, 30), frame(4, 'node:http', 5)],
      samples: [],
      timeDeltas: [],
      startTime: 0,
      endTime: 0,
    };
    const sources = new Map([
      [10, { path: 'shared/log.ts', line: 3 }],
      [20, { path: 'node_modules/zod/v4/core/core.js', line: 7 }],
    ]);
    const out = unbundleProfile(profile, bundle, '/repo', (line, column) => (column === 4 ? sources.get(line) : undefined));
    expect(out.nodes.map((n) => [n.callFrame.url, n.callFrame.lineNumber])).toEqual([
      ['file:///repo/dist/shared/log.js', 3],
      ['file:///repo/node_modules/zod/v4/core/core.js', 7],
      [bundle, 30],
      ['node:http', 5],
    ]);
    expect(out.nodes.map((n) => moduleOf(n.callFrame.url))).toEqual([
      'relay shared/log.js',
      'npm zod',
      'relay functions/index.js',
      'node http',
    ]);
  });
});

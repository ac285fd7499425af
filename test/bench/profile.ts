/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and says where the CPU
 * time went. Each sample is attributed to the innermost frame that belongs to
 * the relay's own code (dist/shared, dist/functions); failing that, to the
 * innermost npm package; failing that, to the innermost Node subsystem; else
 * to V8 itself (GC, "program"). So `shared/log.js` includes the
 * JSON.stringify and regex work it triggers, and `express` the Node calls it makes.
 */

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
  /** Microseconds, on the profiler's clock. */
  startTime: number;
  endTime: number;
}

export interface CostLine {
  /** What the time is attributed to, e.g. "relay shared/log.js", "npm express", "node http". */
  bucket: string;
  /** CPU time in ms. */
  ms: number;
  /** Share of busy (non-idle) time, 0..1. */
  share: number;
}

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  buckets: CostLine[];
  /** Busiest functions by self time. */
  functions: CostLine[];
}

function nodeSubsystem(url: string): string {
  const name = url.replace(/^node:/, '');
  if (name.startsWith('internal/deps/undici')) return 'node undici (fetch)';
  if (/^(_http_|http$|internal\/http)/.test(name)) return 'node http';
  if (/^(net$|internal\/stream|stream|internal\/net|internal\/streams)/.test(name)) return 'node net/streams';
  if (/crypto/.test(name)) return 'node crypto';
  if (/^internal\/(timers|process\/task_queues|async_hooks|process\/promises)|^timers/.test(name)) return 'node timers/event loop';
  return 'node other';
}

/** The bucket one frame belongs to, or undefined for native frames (no URL). */
export function frameBucket(url: string): { rank: number; name: string } | undefined {
  if (!url) return undefined;
  const relay = /\/dist\/((?:shared|functions)\/.+?\.js)$/.exec(url);
  if (relay) return { rank: 3, name: `relay ${relay[1]}` };
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return { rank: 2, name: `npm ${pkg[1]}` };
  if (url.startsWith('node:')) return { rank: 1, name: nodeSubsystem(url) };
  return { rank: 1, name: 'other js' };
}

const SPECIAL = new Map([
  ['(garbage collector)', 'v8 garbage collector'],
  ['(program)', 'v8 program (native)'],
  ['(root)', 'v8 program (native)'],
]);

export interface SummarizeOptions {
  /** Only count the samples of the profile's last `lastMs` (e.g. the load, not the start-up). */
  lastMs?: number;
  /** How many functions to list; default 10. */
  top?: number;
}

/** Summarises a profile; see the module comment for how time is attributed. */
export function summarizeProfile(profile: CpuProfile, options: SummarizeOptions = {}): ProfileSummary {
  const top = options.top ?? 10;
  const from = options.lastMs === undefined ? -Infinity : profile.endTime - options.lastMs * 1000;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const bucketOf = new Map<number, string>();
  const attribute = (id: number): string => {
    const cached = bucketOf.get(id);
    if (cached) return cached;
    const leaf = byId.get(id)!;
    let result = SPECIAL.get(leaf.callFrame.functionName);
    if (!result) {
      let best: { rank: number; name: string } | undefined;
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const b = frameBucket(byId.get(at)!.callFrame.url);
        if (b && (!best || b.rank > best.rank)) best = b;
        if (best?.rank === 3) break;
      }
      result = best?.name ?? 'v8 builtins (no JS caller)';
    }
    bucketOf.set(id, result);
    return result;
  };

  const buckets = new Map<string, number>();
  const functions = new Map<string, number>();
  let idle = 0;
  let busy = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at < from) return;
    const ms = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') {
      idle += ms;
      return;
    }
    busy += ms;
    const bucket = attribute(id);
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + ms);
    const where = frame.url ? `${frame.url.replace(/^.*\/(node_modules|dist)\//, '')}:${frame.lineNumber + 1}` : 'native';
    const fn = `${frame.functionName || '(anonymous)'} ${where}`;
    functions.set(fn, (functions.get(fn) ?? 0) + ms);
  });
  const lines = (m: Map<string, number>) =>
    [...m].map(([bucket, ms]) => ({ bucket, ms, share: busy ? ms / busy : 0 })).sort((a, b) => b.ms - a.ms);
  return { busyMs: busy, idleMs: idle, buckets: lines(buckets), functions: lines(functions).slice(0, top) };
}

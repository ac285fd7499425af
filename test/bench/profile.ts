/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and says where the CPU
 * time went, in three views:
 * - by module: each sample goes to the module of the function running
 *   (a native function such as JSON.stringify or writev goes to its JS caller);
 * - by stage: each sample goes to the innermost stage (a caller-supplied
 *   list of frame matchers) on its stack, so a stage includes the library and
 *   Node work it calls synchronously; samples with no stage on the stack are
 *   `outside`;
 * - the busiest functions by self time.
 */

import { readFileSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

export interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
  /** Microseconds, on the profiler's clock. */
  startTime: number;
  endTime: number;
}

export interface CostLine {
  /** What the time is attributed to, e.g. "npm express", "node http", "relay shared/log.js". */
  name: string;
  /** CPU time in ms. */
  ms: number;
  /** Share of busy (non-idle) time, 0..1. */
  share: number;
}

export interface Stage {
  name: string;
  match(frame: CallFrame): boolean;
}

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  modules: CostLine[];
  stages: CostLine[];
  functions: CostLine[];
}

export interface SummarizeOptions {
  /** Only count the samples of the profile's last `lastMs` (e.g. the load, not the start-up). */
  lastMs?: number;
  /** Stages, innermost first wins; default none. */
  stages?: Stage[];
  /** Name for samples with no stage on the stack; default "outside". */
  outside?: string;
  /** How many functions to list; default 10. */
  top?: number;
}

function nodeSubsystem(url: string): string {
  const name = url.replace(/^node:/, '');
  if (name.startsWith('internal/deps/undici')) return 'node undici (fetch)';
  if (/^(_http_|http$|internal\/http)/.test(name)) return 'node http';
  if (/^(net$|stream|internal\/(net|stream_base_commons|streams?\/))/.test(name)) return 'node net/streams';
  if (/crypto/.test(name)) return 'node crypto';
  if (/^(domain$|async_hooks$|internal\/(async_hooks|process\/execution|process\/report))/.test(name)) return 'node domain/async_hooks';
  if (/^internal\/(abort_controller|worker\/js_transferable)/.test(name)) return 'node AbortSignal';
  if (/^(events$|internal\/event_target)/.test(name)) return 'node events';
  if (/^internal\/(modules|bootstrap)\//.test(name)) return 'node module loading';
  if (/^(timers$|internal\/(timers|process\/task_queues|process\/promises))/.test(name)) return 'node timers/event loop';
  return 'node other';
}

/** The module a frame belongs to, or undefined for a native frame (no URL). */
export function moduleOf(url: string): string | undefined {
  if (!url) return undefined;
  const relay = /\/dist\/((?:shared|functions)\/.+?\.js)$/.exec(url);
  if (relay) return `relay ${relay[1]}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return `npm ${pkg[1]}`;
  if (url.startsWith('node:')) return nodeSubsystem(url);
  return 'other js';
}

const SPECIAL = new Map([
  ['(garbage collector)', 'v8 garbage collector'],
  ['(program)', 'v8 program (native)'],
  ['(root)', 'v8 program (native)'],
]);

/** Summarises a profile; see the module comment for the three views. */
export function summarizeProfile(profile: CpuProfile, options: SummarizeOptions = {}): ProfileSummary {
  const stages = options.stages ?? [];
  const outside = options.outside ?? 'outside';
  const from = options.lastMs === undefined ? -Infinity : profile.endTime - options.lastMs * 1000;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const up = function* (id: number) {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) yield byId.get(at)!.callFrame;
  };

  const memo = new Map<number, { module: string; stage: string }>();
  const attribute = (id: number) => {
    let found = memo.get(id);
    if (found) return found;
    const leaf = byId.get(id)!.callFrame;
    let module = SPECIAL.get(leaf.functionName);
    let stage: string | undefined;
    for (const frame of up(id)) {
      module ??= moduleOf(frame.url);
      stage ??= stages.find((s) => s.match(frame))?.name;
      if (module && stage) break;
    }
    found = { module: module ?? 'v8 builtins (no JS caller)', stage: stage ?? outside };
    memo.set(id, found);
    return found;
  };

  const modules = new Map<string, number>();
  const stageTimes = new Map<string, number>();
  const functions = new Map<string, number>();
  const add = (m: Map<string, number>, key: string, ms: number) => m.set(key, (m.get(key) ?? 0) + ms);
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
    const { module, stage } = attribute(id);
    add(modules, module, ms);
    add(stageTimes, stage, ms);
    const where = frame.url ? `${frame.url.replace(/^.*\/(node_modules|dist)\//, '')}:${frame.lineNumber + 1}` : 'native';
    add(functions, `${frame.functionName || '(anonymous)'} ${where}`, ms);
  });
  const lines = (m: Map<string, number>) =>
    [...m].map(([name, ms]) => ({ name, ms, share: busy ? ms / busy : 0 })).sort((a, b) => b.ms - a.ms);
  return {
    busyMs: busy,
    idleMs: idle,
    modules: lines(modules),
    stages: lines(stageTimes),
    functions: lines(functions).slice(0, options.top ?? 10),
  };
}

/** Where a position of a bundled file came from: a path relative to the repository root, and its 0-based line. */
export type SourceLookup = (line: number, column: number) => { path: string; line: number } | undefined;

/**
 * The profile with every frame of the bundle `bundleUrl` (the built
 * functions' entry, deploy/bundle.ts) renamed to the file it came from, as
 * if it had been loaded unbundled: `shared/log.ts` becomes `<root>/dist/shared/log.js`,
 * a dependency keeps its `node_modules` path. Frames `lookup` cannot place stay as they are.
 */
export function unbundleProfile(profile: CpuProfile, bundleUrl: string, root: string, lookup: SourceLookup): CpuProfile {
  const base = pathToFileURL(root).href;
  const nodes = profile.nodes.map((node) => {
    const frame = node.callFrame as CallFrame & { columnNumber?: number };
    if (frame.url !== bundleUrl) return node;
    const found = lookup(frame.lineNumber, frame.columnNumber ?? 0);
    if (!found) return node;
    const path = found.path.startsWith('node_modules/') ? found.path : `dist/${found.path.replace(/\.ts$/, '.js')}`;
    return { ...node, callFrame: { ...frame, url: `${base}/${path}`, lineNumber: found.line } };
  });
  return { ...profile, nodes };
}

/** A {@link SourceLookup} over the source map beside `bundleFile` (esbuild writes `<file>.map`), or undefined without one. */
export function bundleSourceLookup(bundleFile: string, root: string): SourceLookup | undefined {
  let payload: SourceMapPayload;
  try {
    payload = JSON.parse(readFileSync(`${bundleFile}.map`, 'utf8')) as SourceMapPayload;
  } catch {
    return undefined;
  }
  const map = new SourceMap(payload);
  const dir = dirname(bundleFile);
  return (line, column) => {
    const entry = map.findEntry(line, column) as { originalSource?: string; originalLine?: number };
    if (!entry.originalSource) return undefined;
    const source = entry.originalSource.startsWith('file:') ? fileURLToPath(entry.originalSource) : resolve(dir, entry.originalSource);
    return { path: relative(root, source).split(sep).join('/'), line: entry.originalLine ?? 0 };
  };
}

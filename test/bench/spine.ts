/**
 * The spine benchmark of issue 2: on loopback, in alternating rounds,
 * (a) direct calls to a trivial target, (a2) direct calls to the
 * token-verifying target, (b) a minimal pass-through on the Functions
 * Framework, (c) run-relay with a GitHub-signed body and real tokens from the
 * metadata emulator, (d) a bare node:http proxy. (b), (c) and (d) all reach
 * the same token-verifying target, so c/b compares like with like.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { githubSignature } from '../support/sign.js';
import { runLoad, type LoadResult } from './load.js';
import type { ServerProcess } from './processes.js';
import { summarizeProfile, type CallFrame, type CpuProfile, type ProfileSummary, type Stage } from './profile.js';
import type { BenchContext, BenchSection, SectionResult } from './section.js';
import { startBenchStack, WEBHOOK_SECRET, type BenchStack } from './stack.js';
import { fmt, median, summarize } from './stats.js';

export const AIMS = { ratio: 0.8, addedP50Ms: 2, rssMiB: 150 };

const inRelay = (path: string) => (frame: CallFrame) => frame.url.includes(`/dist/${path}`);

/** The relay's stages for the CPU profile; the innermost on the stack wins. */
export const RELAY_STAGES: Stage[] = [
  { name: 'logging (shared/log.js)', match: inRelay('shared/log.js') },
  { name: 'signature check (shared/verify/)', match: inRelay('shared/verify/') },
  { name: 'ID token cache (shared/identity/)', match: inRelay('shared/identity/') },
  { name: 'outbound headers (shared/forward/headers.js)', match: inRelay('shared/forward/headers.js') },
  { name: 'forward + start of fetch (shared/forward/forward.js)', match: inRelay('shared/forward/') },
  { name: 'relay core (shared/relay.js, http.js, errors.js)', match: inRelay('shared/') },
  { name: 'request in (functions/adapter.js toRelayRequest)', match: (f) => inRelay('functions/adapter.js')(f) && f.functionName === 'toRelayRequest' },
  { name: 'response out (functions/adapter.js sendRelayResponse)', match: (f) => inRelay('functions/adapter.js')(f) && f.functionName === 'sendRelayResponse' },
];
const OUTSIDE = 'framework, Express, Node http, fetch I/O, GC (no relay frame on the stack)';

interface Variant {
  key: 'a' | 'a2' | 'b' | 'c' | 'd';
  label: string;
  url: string;
  headers: Record<string, string>;
  /** The process in the middle, whose CPU per request is reported. */
  server?: ServerProcess;
}

interface Round {
  rps: number;
  errors: number;
  firstError?: string;
  completed: number;
  cpuUsPerRequest?: number;
  latencies: Float64Array;
}

export interface VariantFigures {
  key: string;
  label: string;
  concurrency: number;
  rps: number;
  p50: number;
  p99: number;
  cpuUsPerRequest?: number;
  errors: number;
  firstError?: string;
}

/** A GitHub `issues` delivery of about 1.5 KB. */
export function sampleDelivery(): { body: Buffer; headers: Record<string, string> } {
  const body = Buffer.from(
    JSON.stringify({
      action: 'opened',
      issue: { id: 1, number: 42, title: 'Bench issue', state: 'open', body: 'x'.repeat(600), user: { login: 'octocat', id: 1 }, labels: [] },
      repository: { id: 1296269, full_name: 'octocat/Hello-World', private: false, owner: { login: 'octocat', id: 1 } },
      sender: { login: 'octocat', id: 1, type: 'User' },
      installation: { id: 123456 },
    }),
  );
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/bench',
      'x-github-event': 'issues',
      'x-github-delivery': randomUUID(),
      'x-hub-signature-256': githubSignature(WEBHOOK_SECRET, body),
    },
  };
}

async function measure(variant: Variant, body: Buffer, concurrency: number, context: BenchContext): Promise<Round> {
  let cpuStart: number | undefined;
  let cpuEnd: number | undefined;
  const result: LoadResult = await runLoad({
    url: variant.url,
    headers: variant.headers,
    body,
    concurrency,
    durationMs: context.options.durationMs,
    warmupMs: context.options.warmupMs,
    onWindow: (edge) => {
      if (edge === 'start') cpuStart = variant.server?.cpuMs();
      else cpuEnd = variant.server?.cpuMs();
    },
  });
  const cpu = cpuStart !== undefined && cpuEnd !== undefined && result.requests > 0 ? ((cpuEnd - cpuStart) * 1000) / result.requests : undefined;
  return { rps: result.rps, errors: result.errors, firstError: result.firstError, completed: result.completed, cpuUsPerRequest: cpu, latencies: result.latencies };
}

function concat(parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function expectStatus(url: string, headers: Record<string, string>, body: Buffer, want: number, what: string): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers, body });
  const text = await res.text();
  if (res.status !== want) throw new Error(`Sanity check failed: ${what} answered ${res.status}, expected ${want}: ${text.slice(0, 200)}`);
}

async function profileRelay(stack: BenchStack, variant: Variant, body: Buffer, context: BenchContext): Promise<{ summary: ProfileSummary; requests: number }> {
  const dir = join(context.workDir, 'cpu-profile');
  const relay = await stack.startRelay('relay-profiled', ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  const loadStarted = performance.now();
  const concurrency = context.options.concurrency.at(-1)!;
  const result = await runLoad({ url: variant.url.replace(stack.relay.url, relay.url), headers: variant.headers, body, concurrency, durationMs: context.options.quick ? 3_000 : 8_000, warmupMs: 500 });
  await relay.stop();
  const windowMs = performance.now() - loadStarted;
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`No CPU profile was written to ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  return { summary: summarizeProfile(profile, { lastMs: windowMs, top: 12, stages: RELAY_STAGES, outside: OUTSIDE }), requests: result.completed + result.errors };
}

async function run(context: BenchContext): Promise<SectionResult> {
  const { options } = context;
  context.progress('spine: starting targets, pass-throughs and the relay ...');
  const stack = await startBenchStack(context.root, context.workDir);
  try {
    const { body, headers } = sampleDelivery();
    const auth = { authorization: `Bearer ${stack.token}` };
    const variants: Variant[] = [
      { key: 'a', label: '(a) direct, trivial target', url: `${stack.trivial.url}/hooks/github`, headers },
      { key: 'a2', label: '(a2) direct, verifying target', url: `${stack.verifying.url}/hooks/github`, headers: { ...headers, ...auth } },
      { key: 'b', label: '(b) framework pass-through', url: `${stack.passthrough.url}/hooks/github`, headers, server: stack.passthrough },
      { key: 'c', label: '(c) run-relay', url: `${stack.relay.url}/github`, headers, server: stack.relay },
      { key: 'd', label: '(d) bare node:http proxy', url: `${stack.bare.url}/hooks/github`, headers, server: stack.bare },
    ];
    for (const v of variants) await expectStatus(v.url, v.headers, body, 200, v.label);
    await expectStatus(`${stack.relay.url}/github`, { ...headers, 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` }, body, 401, 'run-relay with a bad signature');
    await expectStatus(`${stack.verifying.url}/hooks/github`, headers, body, 401, 'the verifying target without a token');
    const identityBefore = stack.metadata.totalIdentityRequests();

    const figures: VariantFigures[] = [];
    let relayed = 0;
    for (const concurrency of options.concurrency) {
      const rounds = new Map<string, Round[]>(variants.map((v) => [v.key, []]));
      for (let r = 0; r < options.rounds; r++) {
        // Rotate the order each round so drift (heat, GC, page cache) does not favour one variant.
        const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
        for (const v of order) {
          context.progress(`spine: concurrency ${concurrency}, round ${r + 1}/${options.rounds}, ${v.label}`);
          const round = await measure(v, body, concurrency, context);
          rounds.get(v.key)!.push(round);
          if (v.key === 'c') relayed += round.completed;
        }
      }
      for (const v of variants) {
        const rs = rounds.get(v.key)!;
        const lat = summarize(concat(rs.map((x) => x.latencies)));
        const cpus = rs.map((x) => x.cpuUsPerRequest).filter((x): x is number => x !== undefined);
        figures.push({
          key: v.key,
          label: v.label,
          concurrency,
          rps: median(rs.map((x) => x.rps)),
          p50: lat.p50,
          p99: lat.p99,
          cpuUsPerRequest: cpus.length ? median(cpus) : undefined,
          errors: rs.reduce((n, x) => n + x.errors, 0),
          firstError: rs.find((x) => x.firstError)?.firstError,
        });
      }
    }
    const identityRequests = stack.metadata.totalIdentityRequests() - identityBefore;
    const identityTotal = stack.metadata.totalIdentityRequests();
    const peakRss = Object.fromEntries(
      [stack.passthrough, stack.relay, stack.bare, stack.trivial, stack.verifying].map((s) => [s.name, s.peakRssMiB()]),
    );
    const startup = { relay: stack.relay.startupMs, passthrough: stack.passthrough.startupMs };
    let profile: { summary: ProfileSummary; requests: number } | undefined;
    if (options.profile) {
      context.progress('spine: CPU-profiled run of the relay ...');
      profile = await profileRelay(stack, variants[3]!, body, context);
    }
    return report({ figures, relayed, identityRequests, identityTotal, metadataByPath: Object.fromEntries(stack.metadataProxy.byPath), peakRss, startup, profile, audiences: 1, options });
  } finally {
    await stack.close();
  }
}

export interface SpineFigures {
  figures: VariantFigures[];
  /** Relayed calls completed (all rounds, warm-ups included). */
  relayed: number;
  /** Identity requests to the metadata server during the load. */
  identityRequests: number;
  /** Identity requests including the sanity checks and cold start. */
  identityTotal: number;
  metadataByPath: Record<string, number>;
  peakRss: Record<string, number | undefined>;
  startup: Record<string, number>;
  profile?: { summary: ProfileSummary; requests: number };
  audiences: number;
  options: BenchContext['options'];
}

/** Turns the spine's figures into tables and findings. */
export function report(f: SpineFigures): SectionResult {
  const pick = (key: string, c: number) => f.figures.find((x) => x.key === key && x.concurrency === c);
  const levels = f.options.concurrency;
  const low = levels[0]!;
  const rows = f.figures.map((x) => ({
    variant: x.label,
    conc: String(x.concurrency),
    'req/s': fmt(x.rps),
    'p50 ms': fmt(x.p50),
    'p99 ms': fmt(x.p99),
    'CPU us/req (middle)': fmt(x.cpuUsPerRequest),
    errors: x.errors ? `${x.errors} (${x.firstError})` : '0',
  }));
  const summaryRows: Record<string, string>[] = [];
  const notes: string[] = [];
  const ratios = levels.map((c) => ({ c, ratio: pick('c', c)!.rps / pick('b', c)!.rps, vsD: pick('c', c)!.rps / pick('d', c)!.rps }));
  for (const { c, ratio, vsD } of ratios) {
    summaryRows.push({ figure: `c/b requests per second, concurrency ${c}`, value: fmt(ratio), aim: `>= ${AIMS.ratio}`, met: ratio >= AIMS.ratio ? 'yes' : 'NO' });
    summaryRows.push({ figure: `c/d requests per second, concurrency ${c}`, value: fmt(vsD), aim: '(reference)', met: '' });
  }
  const [a, a2, b, c] = ['a', 'a2', 'b', 'c'].map((k) => pick(k, low)!);
  const addedP50 = c!.p50 - a!.p50;
  summaryRows.push({ figure: `p50 added by c over a, concurrency ${low}`, value: `${fmt(addedP50)} ms`, aim: `<= ${AIMS.addedP50Ms} ms`, met: addedP50 <= AIMS.addedP50Ms ? 'yes' : 'NO' });
  summaryRows.push({ figure: `p99 added by c over a, concurrency ${low}`, value: `${fmt(c!.p99 - a!.p99)} ms`, aim: '', met: '' });
  summaryRows.push({ figure: `p50 added by c over a2 (same target), concurrency ${low}`, value: `${fmt(c!.p50 - a2!.p50)} ms`, aim: '', met: '' });
  summaryRows.push({ figure: `p50 added by c over b (the framework floor), concurrency ${low}`, value: `${fmt(c!.p50 - b!.p50)} ms`, aim: '', met: '' });
  const per10k = f.relayed ? (f.identityRequests / f.relayed) * 10_000 : Number.NaN;
  summaryRows.push({ figure: `metadata identity requests per 10,000 relayed calls (${f.relayed} relayed)`, value: fmt(per10k), aim: `total = ${f.audiences} (audiences)`, met: f.identityTotal === f.audiences ? 'yes' : 'NO' });
  summaryRows.push({ figure: 'metadata requests of any kind, whole run', value: Object.entries(f.metadataByPath).map(([p, n]) => `${n} ${p.replace('/computeMetadata/v1/', '')}`).join(', ') || '0', aim: '', met: '' });
  const rss = f.peakRss['relay'];
  summaryRows.push({ figure: 'peak RSS of the relay (VmHWM)', value: `${fmt(rss)} MiB`, aim: `< ${AIMS.rssMiB} MiB`, met: rss !== undefined && rss < AIMS.rssMiB ? 'yes' : 'NO' });
  summaryRows.push({ figure: 'peak RSS of (b) / (d)', value: `${fmt(f.peakRss['passthrough-function'])} / ${fmt(f.peakRss['bare-proxy'])} MiB`, aim: '', met: '' });
  summaryRows.push({ figure: 'start-up to first answer, relay / (b)', value: `${fmt(f.startup.relay)} / ${fmt(f.startup.passthrough)} ms`, aim: '', met: '' });

  const tables = [
    { heading: 'Throughput and latency (median req/s over rounds; latency percentiles over all rounds)', rows },
    { heading: 'Figures against the aims', rows: summaryRows },
  ];
  if (f.profile) {
    const { summary, requests } = f.profile;
    const perReq = (ms: number) => fmt((ms * 1000) / requests);
    const busyPerReq = fmt((summary.busyMs * 1000) / requests);
    const rowsOf = (lines: ProfileSummary['stages'], column: string) =>
      lines.map((x) => ({ [column]: x.name, share: `${(x.share * 100).toFixed(1)}%`, 'us/req': perReq(x.ms) }));
    tables.push({
      heading: `Relay CPU by stage (--cpu-prof, ${requests} requests at concurrency ${levels.at(-1)}, ${busyPerReq} us busy per request; a stage includes what it calls synchronously)`,
      rows: rowsOf(summary.stages, 'stage'),
    });
    tables.push({ heading: 'Relay CPU by module (self time; native calls counted in their JS caller)', rows: rowsOf(summary.modules.slice(0, 12), 'module') });
    tables.push({ heading: 'Busiest functions (self time)', rows: rowsOf(summary.functions, 'function') });
    const stage = summary.stages.find((x) => x.name !== OUTSIDE);
    const topModules = summary.modules.slice(0, 3);
    notes.push(
      `Relay CPU per request: ${busyPerReq} us. Most of it is outside the relay's own code (${fmt((summary.stages.find((x) => x.name === OUTSIDE)?.share ?? 0) * 100)}%); ` +
        `the costliest relay stage is ${stage ? `${stage.name} at ${perReq(stage.ms)} us/req` : '(none)'}; the costliest modules are ` +
        topModules.map((x) => `${x.name} (${(x.share * 100).toFixed(0)}%)`).join(', ') + '.',
    );
  }
  for (const row of summaryRows) if (row.met === 'NO') notes.push(`Aim not met: ${row.figure} is ${row.value} (aim ${row.aim}).`);
  if (!summaryRows.some((r) => r.met === 'NO')) notes.push('Every aim was met in this run.');
  return { title: 'Spine: webhook relay vs. pass-through floors', tables, notes, data: f };
}

export const section: BenchSection = { name: 'spine', run };

/**
 * Turns the spine benchmark's figures into tables and findings, checked
 * against the aims of issue 2. Pure: tests hand it figures directly.
 */
import type { CallFrame, ProfileSummary, Stage } from './profile.js';
import type { BenchOptions, SectionResult } from './section.js';
import { fmt } from './stats.js';

/** The aims of issue 2. */
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
export const OUTSIDE = 'framework, Express, Node http, fetch I/O, GC (no relay frame on the stack)';

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
  options: Pick<BenchOptions, 'concurrency'> & { relayFlags?: string[] };
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
    summaryRows.push({ figure: `c/b2 requests per second, concurrency ${c}`, value: fmt(pick('c', c)!.rps / pick('b2', c)!.rps), aim: '(reference)', met: '' });
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
  summaryRows.push({ figure: 'metadata requests of any kind, relay start-up included', value: Object.entries(f.metadataByPath).map(([p, n]) => `${n} ${p.replace('/computeMetadata/v1/', '')}`).join(', ') || '0', aim: '', met: '' });
  const rss = f.peakRss['relay'];
  const flags = f.options.relayFlags?.length ? `, node ${f.options.relayFlags.join(' ')}` : ', default V8 heap limit';
  summaryRows.push({ figure: `peak RSS of the relay (VmHWM${flags}) after ${f.relayed} relayed calls`, value: `${fmt(rss)} MiB`, aim: `< ${AIMS.rssMiB} MiB`, met: rss !== undefined && rss < AIMS.rssMiB ? 'yes' : 'NO' });
  summaryRows.push({ figure: 'peak RSS of (b) / (b2) / (d)', value: `${fmt(f.peakRss['passthrough-function'])} / ${fmt(f.peakRss['passthrough-http-function'])} / ${fmt(f.peakRss['bare-proxy'])} MiB`, aim: '', met: '' });
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


/**
 * Turns the spine benchmark's figures into tables and findings, checked
 * against the aims of issue 11 ("Done when"). Pure: tests hand it figures
 * directly.
 */
import type { ColdStartFigures } from './cold-start.js';
import type { CallFrame, ProfileSummary, Stage } from './profile.js';
import type { BenchOptions, SectionResult } from './section.js';
import { fmt } from './stats.js';

/**
 * The aims of issue 11: (c)/(b2) req/s at every level, CPU per relayed
 * request against (b2)'s at the highest level, p50 added over direct calls
 * (a) at the lowest, cold start to the first relayed answer against a hello
 * function, and peak RSS under load with Node's default heap.
 */
export const AIMS = { ratioB2: 0.9, cpuVsB2: 1.25, addedP50Ms: 1, coldStartRatio: 1.3, rssMiB: 150 };

const inRelay = (path: string) => (frame: CallFrame) => frame.url.includes(`/dist/${path}`);

/** The relay's stages for the CPU profile; the innermost on the stack wins. */
export const RELAY_STAGES: Stage[] = [
  { name: 'logging (shared/log.js)', match: inRelay('shared/log.js') },
  { name: 'signature check (shared/verify/)', match: inRelay('shared/verify/') },
  { name: 'ID token cache (shared/identity/)', match: inRelay('shared/identity/') },
  { name: 'outbound headers (shared/forward/headers.js)', match: inRelay('shared/forward/headers.js') },
  { name: 'forward + start of fetch (shared/forward/forward.js)', match: inRelay('shared/forward/') },
  { name: 'relay core (shared/relay.js, http.js, errors.js)', match: inRelay('shared/') },
  {
    name: 'request in (functions/adapter.js toRelayRequest)',
    match: (f) => inRelay('functions/adapter.js')(f) && f.functionName === 'toRelayRequest',
  },
  {
    name: 'response out (functions/adapter.js sendRelayResponse)',
    match: (f) => inRelay('functions/adapter.js')(f) && f.functionName === 'sendRelayResponse',
  },
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
  coldStart?: ColdStartFigures;
  /** Rounds whose counts were checked (every one, or the run would have failed), and the requests in them. */
  checked?: { rounds: number; answered: number; relayed: number };
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
  const met = (ok: boolean) => (ok ? 'met' : 'NOT MET');
  const high = levels.at(-1)!;
  for (const c of levels) {
    const ratio = pick('c', c)!.rps / pick('b2', c)!.rps;
    summaryRows.push({
      figure: `(c)/(b2) requests per second, concurrency ${c}`,
      value: fmt(ratio),
      aim: `>= ${AIMS.ratioB2}`,
      met: met(ratio >= AIMS.ratioB2),
    });
  }
  const cpuC = pick('c', high)?.cpuUsPerRequest;
  const cpuB2 = pick('b2', high)?.cpuUsPerRequest;
  const cpuRatio = cpuC !== undefined && cpuB2 !== undefined ? cpuC / cpuB2 : Number.NaN;
  summaryRows.push({
    figure: `CPU per relayed request, (c) vs (b2), concurrency ${high}`,
    value: `${fmt(cpuC)} vs ${fmt(cpuB2)} us (${fmt(cpuRatio)}x)`,
    aim: `<= ${AIMS.cpuVsB2}x (b2)`,
    met: met(cpuRatio <= AIMS.cpuVsB2),
  });
  const [a, a2, b2, c] = ['a', 'a2', 'b2', 'c'].map((k) => pick(k, low)!);
  const addedP50 = c!.p50 - a!.p50;
  summaryRows.push({
    figure: `p50 added by (c) over direct calls (a), concurrency ${low}`,
    value: `${fmt(addedP50)} ms`,
    aim: `<= ${AIMS.addedP50Ms} ms`,
    met: met(addedP50 <= AIMS.addedP50Ms),
  });
  if (f.coldStart) {
    const cs = f.coldStart;
    summaryRows.push({
      figure: `cold start to the first relayed answer vs a hello function (median of ${cs.runs} alternating starts)`,
      value: `${fmt(cs.ratio)}x (${fmt(cs.webhookMs)} vs ${fmt(cs.helloMs)} ms)`,
      aim: `<= ${AIMS.coldStartRatio}x`,
      met: met(cs.ratio <= AIMS.coldStartRatio),
    });
  } else {
    summaryRows.push({
      figure: 'cold start to the first relayed answer vs a hello function',
      value: 'not measured',
      aim: `<= ${AIMS.coldStartRatio}x`,
      met: met(false),
    });
  }
  const rss = f.peakRss['relay'];
  const flags = f.options.relayFlags?.length ? `, node ${f.options.relayFlags.join(' ')}` : ", Node's default heap";
  summaryRows.push({
    figure: `peak RSS of the relay under load (VmHWM${flags}, ${f.relayed} relayed calls)`,
    value: `${fmt(rss)} MiB`,
    aim: `<= ${AIMS.rssMiB} MiB${f.options.relayFlags?.length ? ' (default heap)' : ''}`,
    met: met(rss !== undefined && rss <= AIMS.rssMiB && !f.options.relayFlags?.length),
  });
  if (f.checked) {
    summaryRows.push({
      figure: `every answered request counted at the target (${f.checked.rounds} rounds)`,
      value: `${f.checked.answered} answered = ${f.checked.answered} received; ${f.checked.relayed} relayed, each with a valid token and a new delivery id`,
      aim: 'received == answered',
      met: 'met',
    });
  }
  const reference: Record<string, string>[] = [];
  for (const x of levels) {
    reference.push({
      figure: `(c)/(b) (fetch pass-through) and (c)/(d) (bare proxy) req/s, concurrency ${x}`,
      value: `${fmt(pick('c', x)!.rps / pick('b', x)!.rps)} / ${fmt(pick('c', x)!.rps / pick('d', x)!.rps)}`,
    });
  }
  reference.push({
    figure: `p50 added by (c) over (a2) (same target) / over (b2) (the framework floor), concurrency ${low}`,
    value: `${fmt(c!.p50 - a2!.p50)} / ${fmt(c!.p50 - b2!.p50)} ms`,
  });
  reference.push({ figure: `p99 added by (c) over (a), concurrency ${low}`, value: `${fmt(c!.p99 - a!.p99)} ms` });
  const per10k = f.relayed ? (f.identityRequests / f.relayed) * 10_000 : Number.NaN;
  reference.push({
    figure: `metadata identity requests during the load, per 10,000 relayed calls (${f.relayed} relayed); in all`,
    value: `${fmt(per10k)}; ${f.identityTotal} for ${f.audiences} audience(s)`,
  });
  reference.push({
    figure: 'metadata requests of any kind, relay start-up included',
    value:
      Object.entries(f.metadataByPath)
        .map(([p, n]) => `${n} ${p.replace('/computeMetadata/v1/', '')}`)
        .join(', ') || '0',
  });
  reference.push({
    figure: 'peak RSS of (b) / (b2) / (d)',
    value: `${fmt(f.peakRss['passthrough-function'])} / ${fmt(f.peakRss['passthrough-http-function'])} / ${fmt(f.peakRss['bare-proxy'])} MiB`,
  });
  reference.push({
    figure: 'start-up to the first answer of any kind, relay / (b)',
    value: `${fmt(f.startup.relay)} / ${fmt(f.startup.passthrough)} ms`,
  });

  const tables = [
    { heading: 'Throughput and latency (median req/s over rounds; latency percentiles over all rounds)', rows },
    { heading: 'Aims (issue 11, "Done when")', rows: summaryRows },
    { heading: 'Reference figures', rows: reference },
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
    tables.push({
      heading: 'Relay CPU by module (self time; native calls counted in their JS caller)',
      rows: rowsOf(summary.modules.slice(0, 12), 'module'),
    });
    tables.push({ heading: 'Busiest functions (self time)', rows: rowsOf(summary.functions, 'function') });
    const stage = summary.stages.find((x) => x.name !== OUTSIDE);
    const topModules = summary.modules.slice(0, 3);
    notes.push(
      `Relay CPU per request: ${busyPerReq} us. Most of it is outside the relay's own code (${fmt((summary.stages.find((x) => x.name === OUTSIDE)?.share ?? 0) * 100)}%); ` +
        `the costliest relay stage is ${stage ? `${stage.name} at ${perReq(stage.ms)} us/req` : '(none)'}; the costliest modules are ` +
        topModules.map((x) => `${x.name} (${(x.share * 100).toFixed(0)}%)`).join(', ') +
        '.',
    );
  }
  for (const row of summaryRows) if (row.met === 'NOT MET') notes.push(`Aim not met: ${row.figure} is ${row.value} (aim ${row.aim}).`);
  if (!summaryRows.some((r) => r.met === 'NOT MET')) notes.push('Every aim was met in this run.');
  return { title: 'Spine: webhook relay vs. pass-through floors', tables, notes, data: f };
}

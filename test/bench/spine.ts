/**
 * The spine benchmark of issue 2: on loopback, in alternating rounds,
 * (a) direct calls to a trivial target, (a2) direct calls to the
 * token-verifying target, (b) a minimal pass-through on the Functions
 * Framework, (c) run-relay with a GitHub-signed body and real tokens from the
 * metadata emulator, (d) a bare node:http proxy; and (b2), the pass-through
 * with a node:http client instead of fetch. (b), (b2), (c) and (d) all reach
 * the same token-verifying target, so c/b compares like with like. Figures
 * become tables in spine-report.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { measureColdStart, type ColdStartFigures } from './cold-start.js';
import { assertHonest, countsBetween, readCounts, type RoundTally } from './counts.js';
import { sampleDelivery, type SampleDelivery } from './delivery.js';
import { runLoad, type LoadResult } from './load.js';
import type { ServerProcess } from './processes.js';
import { bundleSourceLookup, summarizeProfile, unbundleProfile, type CpuProfile, type ProfileSummary } from './profile.js';
import type { BenchContext, BenchSection, SectionResult } from './section.js';
import { OUTSIDE, RELAY_STAGES, report, type VariantFigures } from './spine-report.js';
import { FRAMEWORK_MAIN, startBenchStack, WEBHOOK_SECRET, type BenchStack } from './stack.js';
import { median, summarize } from './stats.js';

interface Variant {
  key: 'a' | 'a2' | 'b' | 'b2' | 'c' | 'd';
  label: string;
  url: string;
  /** Headers of one request: a fresh delivery id every call. */
  headers: () => Record<string, string>;
  /** The process in the middle, whose CPU per request is reported. */
  server?: ServerProcess;
  /** The target this variant's requests must reach, whose counts are checked every round. */
  targetUrl: string;
  /** Requests carry an Idempotency-Key (the relay): each must reach the target once. */
  keyed?: boolean;
}

interface Round {
  rps: number;
  errors: number;
  firstError?: string;
  completed: number;
  cpuUsPerRequest?: number;
  latencies: Float64Array;
}

async function measure(variant: Variant, body: Buffer, concurrency: number, context: BenchContext): Promise<Round & { tally: RoundTally }> {
  const before = await readCounts(variant.targetUrl);
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
  const cpu =
    cpuStart !== undefined && cpuEnd !== undefined && result.requests > 0 ? ((cpuEnd - cpuStart) * 1000) / result.requests : undefined;
  const reached = countsBetween(before, await readCounts(variant.targetUrl));
  const tally: RoundTally = {
    what: `${variant.label}, concurrency ${concurrency}`,
    answered: result.completed,
    errors: result.errors,
    reached,
    keyed: variant.keyed,
  };
  return {
    tally,
    rps: result.rps,
    errors: result.errors,
    firstError: result.firstError,
    completed: result.completed,
    cpuUsPerRequest: cpu,
    latencies: result.latencies,
  };
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

async function profileRelay(
  stack: BenchStack,
  variant: Variant,
  body: Buffer,
  context: BenchContext,
): Promise<{ summary: ProfileSummary; requests: number }> {
  const dir = join(context.workDir, 'cpu-profile');
  const relay = await stack.startRelay('relay-profiled', ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  const loadStarted = performance.now();
  const concurrency = context.options.concurrency.at(-1)!;
  const before = await readCounts(variant.targetUrl);
  const result = await runLoad({
    url: variant.url.replace(stack.relay.url, relay.url),
    headers: variant.headers,
    body,
    concurrency,
    durationMs: context.options.quick ? 3_000 : 8_000,
    warmupMs: 500,
  });
  assertHonest([
    {
      what: '(c) run-relay under --cpu-prof',
      answered: result.completed,
      errors: result.errors,
      reached: countsBetween(before, await readCounts(variant.targetUrl)),
      keyed: true,
    },
  ]);
  await relay.stop();
  const windowMs = performance.now() - loadStarted;
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`No CPU profile was written to ${dir}`);
  const bundled = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  // The relay runs the one-file bundle: name each frame after the file it came from, so stages and modules read as before.
  const bundle = join(context.root, 'dist/functions/relay.cjs');
  const lookup = bundleSourceLookup(bundle, context.root);
  const profile = lookup ? unbundleProfile(bundled, pathToFileURL(bundle).href, context.root, lookup) : bundled;
  return {
    summary: summarizeProfile(profile, { lastMs: windowMs, top: 12, stages: RELAY_STAGES, outside: OUTSIDE }),
    requests: result.completed + result.errors,
  };
}

async function run(context: BenchContext): Promise<SectionResult> {
  const { options } = context;
  context.progress('spine: starting targets, pass-throughs and the relay ...');
  const stack = await startBenchStack(context.root, context.workDir, options.relayFlags);
  try {
    const delivery: SampleDelivery = sampleDelivery(WEBHOOK_SECRET);
    const { body } = delivery;
    const fresh = delivery.headers;
    const withToken = () => ({ ...fresh(), authorization: `Bearer ${stack.token}` });
    const target = stack.verifying.url;
    const variants: Variant[] = [
      {
        key: 'a',
        label: '(a) direct, trivial target',
        url: `${stack.trivial.url}/hooks/github`,
        headers: fresh,
        targetUrl: stack.trivial.url,
      },
      { key: 'a2', label: '(a2) direct, verifying target', url: `${target}/hooks/github`, headers: withToken, targetUrl: target },
      {
        key: 'b',
        label: '(b) framework pass-through',
        url: `${stack.passthrough.url}/hooks/github`,
        headers: fresh,
        server: stack.passthrough,
        targetUrl: target,
      },
      {
        key: 'b2',
        label: '(b2) framework pass-through, node:http',
        url: `${stack.passthroughHttp.url}/hooks/github`,
        headers: fresh,
        server: stack.passthroughHttp,
        targetUrl: target,
      },
      {
        key: 'c',
        label: '(c) run-relay',
        url: `${stack.relay.url}/github`,
        headers: fresh,
        server: stack.relay,
        targetUrl: target,
        keyed: true,
      },
      {
        key: 'd',
        label: '(d) bare node:http proxy',
        url: `${stack.bare.url}/hooks/github`,
        headers: fresh,
        server: stack.bare,
        targetUrl: target,
      },
    ];
    for (const v of variants) await expectStatus(v.url, v.headers(), body, 200, v.label);
    await expectStatus(
      `${stack.relay.url}/github`,
      { ...fresh(), 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` },
      body,
      401,
      'run-relay with a bad signature',
    );
    await expectStatus(`${target}/hooks/github`, fresh(), body, 401, 'the verifying target without a token');
    const identityBefore = stack.metadata.totalIdentityRequests();

    const figures: VariantFigures[] = [];
    let relayed = 0;
    const tallies: RoundTally[] = [];
    for (const concurrency of options.concurrency) {
      const rounds = new Map<string, Round[]>(variants.map((v) => [v.key, []]));
      for (let r = 0; r < options.rounds; r++) {
        // Rotate the order each round so drift (heat, GC, page cache) does not favour one variant.
        const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
        for (const v of order) {
          context.progress(`spine: concurrency ${concurrency}, round ${r + 1}/${options.rounds}, ${v.label}`);
          const round = await measure(v, body, concurrency, context);
          // A round whose counts disagree ends the run: its figures would describe a shortcut.
          assertHonest([round.tally]);
          tallies.push(round.tally);
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
      [stack.passthrough, stack.passthroughHttp, stack.relay, stack.bare, stack.trivial, stack.verifying].map((s) => [
        s.name,
        s.peakRssMiB(),
      ]),
    );
    const startup = { relay: stack.relay.startupMs, passthrough: stack.passthrough.startupMs };
    const metadataByPath = Object.fromEntries(stack.metadataProxy.byPath);
    let profile: { summary: ProfileSummary; requests: number } | undefined;
    if (options.profile) {
      context.progress('spine: CPU-profiled run of the relay ...');
      profile = await profileRelay(
        stack,
        variants.find((v) => v.key === 'c')!,
        body,
        context,
      );
    }
    const runs = options.quick ? 7 : 11;
    context.progress(`spine: cold start, ${runs} alternating starts of the webhook (to its first relayed answer) and a hello function ...`);
    const coldStart: ColdStartFigures = await measureColdStart({
      root: context.root,
      workDir: context.workDir,
      runs,
      relay: stack.relayCommand,
      frameworkMain: FRAMEWORK_MAIN,
      delivery,
      targetUrl: target,
    });
    const checked = {
      rounds: tallies.length,
      answered: tallies.reduce((n, t) => n + t.answered, 0),
      relayed: tallies.filter((t) => t.what.startsWith('(c)')).reduce((n, t) => n + t.answered, 0),
    };
    return report({
      figures,
      relayed,
      identityRequests,
      identityTotal,
      metadataByPath,
      peakRss,
      startup,
      profile,
      audiences: 1,
      options,
      coldStart,
      checked,
    });
  } finally {
    await stack.close();
  }
}

export const section: BenchSection = { name: 'spine', run };

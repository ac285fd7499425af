/**
 * A measuring harness for the relay's memory, not part of `npm run bench`: the spine's stack (test/bench/stack.ts)
 * with the relay and (b2) started under `--expose-gc` and a preload (mem-probe-preload.mjs) that, on a signal,
 * runs full GCs and reports the live heap, V8's heap spaces, code statistics and VmHWM (and optionally writes a
 * heap snapshot). Load: the spine's signed GitHub delivery with a fresh delivery id per request, at concurrency 1
 * then 32; every request is counted at the verifying target and must have reached it.
 *
 *   npx tsx test/bench/mem-probe.ts [--relay-only] [--seconds 8] [--snapshot] [--trace-gc] [--at-start]
 *
 * `--at-start` also reports each server after 100 ms of requests at concurrency 1, before the load: what the load adds
 * (with `--snapshot`, that snapshot is kept as <pid>-start.heapsnapshot).
 *
 * Run `npm run build` first: the relay is dist/functions/index.js as the bench serves it.
 */
import { mkdtempSync, readFileSync, existsSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { countsBetween, readCounts } from './counts.js';
import { sampleDelivery } from './delivery.js';
import { runLoad } from './load.js';
import { startOnFreePort, type ServerProcess } from './processes.js';
import { compilePassthrough, FRAMEWORK_MAIN, startBenchStack, WEBHOOK_SECRET } from './stack.js';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const seconds = Number(argv[argv.indexOf('--seconds') + 1] ?? 8) || 8;
const root = process.cwd();
const dir = mkdtempSync(join(tmpdir(), 'mem-probe-'));
process.env.MEM_PROBE_DIR = dir;
if (flag('--snapshot')) process.env.MEM_PROBE_SNAPSHOT = '1';
const probe = ['--expose-gc', '--import', pathToFileURL(join(root, 'test/bench/mem-probe-preload.mjs')).href];
if (flag('--trace-gc')) probe.push('--trace-gc');
if (flag('--trace-gc-nvp')) probe.push('--trace-gc-nvp');

async function report(server: ServerProcess): Promise<Record<string, unknown>> {
  const file = join(dir, `${server.pid}.json`);
  process.kill(server.pid, 'SIGUSR2');
  for (let i = 0; i < 600 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 300));
  const figures = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  rmSync(file);
  return figures;
}

const MiB = (n: number) => Math.round((n / 1048576) * 10) / 10;

async function drive(
  name: string,
  server: ServerProcess,
  url: string,
  targetUrl: string,
  headers: () => Record<string, string>,
  body: Buffer,
) {
  const before = await readCounts(targetUrl);
  let answered = 0;
  let errors = 0;
  if (flag('--at-start')) {
    const r = await runLoad({ url, headers, body, concurrency: 1, durationMs: 100, warmupMs: 0 });
    answered += r.completed;
    errors += r.errors;
    const m = (await report(server)) as { after: NodeJS.MemoryUsage };
    const snapshot = join(dir, `${server.pid}.heapsnapshot`);
    if (existsSync(snapshot)) renameSync(snapshot, join(dir, `${server.pid}-start.heapsnapshot`));
    console.log(
      JSON.stringify({ name, atStart: true, answered, heapUsedAfterGcMiB: MiB(m.after.heapUsed), rssAfterGcMiB: MiB(m.after.rss) }),
    );
  }
  for (const [concurrency, ms] of [
    [1, 2000],
    [32, seconds * 1000],
  ] as const) {
    const r = await runLoad({ url, headers, body, concurrency, durationMs: ms, warmupMs: 200 });
    answered += r.completed;
    errors += r.errors;
  }
  const reached = countsBetween(before, await readCounts(targetUrl));
  const m = (await report(server)) as {
    after: NodeJS.MemoryUsage;
    before: NodeJS.MemoryUsage;
    spaces: Record<string, { size: number; used: number }>;
    code: Record<string, number>;
    vmHWMKiB: number;
  };
  console.log(
    JSON.stringify({
      name,
      answered,
      errors,
      reached: reached.accepted,
      refused: reached.refused,
      peakRssMiB: Math.round((m.vmHWMKiB / 1024) * 10) / 10,
      heapUsedAfterGcMiB: MiB(m.after.heapUsed),
      heapTotalAfterGcMiB: MiB(m.after.heapTotal),
      externalMiB: MiB(m.after.external),
      arrayBuffersMiB: MiB(m.after.arrayBuffers),
      rssAfterGcMiB: MiB(m.after.rss),
      spacesUsedMiB: Object.fromEntries(Object.entries(m.spaces).map(([k, v]) => [k, MiB(v.used)])),
      code: Object.fromEntries(Object.entries(m.code).map(([k, v]) => [k, MiB(v)])),
    }),
  );
}

const stack = await startBenchStack(root, dir, probe);
try {
  const delivery = sampleDelivery(WEBHOOK_SECRET);
  await drive('(c) relay', stack.relay, `${stack.relay.url}/github`, stack.verifying.url, delivery.headers, delivery.body);
  if (!flag('--relay-only')) {
    const b2 = await startOnFreePort(
      'b2-probe',
      [...probe, FRAMEWORK_MAIN, '--target=passthrough-http', `--source=${compilePassthrough(root)}`, '--port={port}'],
      {
        cwd: root,
        logFile: join(dir, 'b2-probe.log'),
        env: { UPSTREAM: stack.verifying.url, HEADER_NAME: 'authorization', HEADER_VALUE: `Bearer ${stack.token}` },
      },
    );
    const headers = () => ({ 'content-type': 'application/json' });
    await drive('(b2) pass-through', b2, `${b2.url}/github`, stack.verifying.url, headers, delivery.body);
    await b2.stop();
  }
  console.log(`files in ${dir}`);
} finally {
  await stack.close();
}

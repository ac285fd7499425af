/**
 * `npm run bench`: builds nothing itself (the npm script runs `npm run build`
 * first), starts every server under test as its own process on loopback,
 * runs the spine benchmark and any extra sections (test/bench/verify.ts,
 * test/bench/async.ts when present), prints tables to stdout and writes
 * bench-results.json. Progress goes to stderr.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, USAGE } from './args.js';
import { loadExtraSections, type BenchContext, type BenchSection, type SectionResult } from './section.js';
import { section as spine } from './spine.js';
import { renderTable } from './table.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const options = parseArgs(argv);
  if (!existsSync(join(root, 'dist/functions/index.js'))) {
    process.stderr.write('dist/functions/index.js is missing: run `npm run build` first (`npm run bench` does).\n');
    return 1;
  }
  const sections: BenchSection[] = [];
  if (!options.only || options.only.includes('spine')) sections.push(spine);
  // --quick stays near a minute: only the spine (the aims); verify and async (Pub/Sub emulator) run in a full run or when named.
  const only = options.only ?? (options.quick ? ['spine'] : undefined);
  sections.push(...(await loadExtraSections(here, only)));
  if (sections.length === 0) {
    process.stderr.write(`No section matched --only ${options.only?.join(',')}\n`);
    return 1;
  }
  const workDir = mkdtempSync(join(tmpdir(), 'run-relay-bench-'));
  const context: BenchContext = { options, root, workDir, progress: (m) => process.stderr.write(`[bench] ${m}\n`) };
  const results: { name: string; result?: SectionResult; error?: string }[] = [];
  const started = Date.now();
  const loadBefore = loadavg()[0]!;
  process.stdout.write(
    `run-relay bench: Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), load average ${loadBefore.toFixed(2)}${options.quick ? ', --quick' : ''}\n`,
  );
  for (const s of sections) {
    try {
      const result = await s.run(context);
      results.push({ name: s.name, result });
      print(result);
    } catch (error) {
      results.push({ name: s.name, error: (error as Error).message });
      process.stdout.write(`\n## ${s.name}: FAILED\n${(error as Error).message}\n`);
    }
  }
  const loadAfter = loadavg()[0]!;
  process.stdout.write(
    `\nLoad average (1 min) before ${loadBefore.toFixed(2)}, after ${loadAfter.toFixed(2)} on ${cpus().length} CPUs: above the CPU count, other work shared the machine and absolute figures are low; ratios taken in alternating rounds hold up better.\n`,
  );
  process.stderr.write(`[bench] done in ${((Date.now() - started) / 1000).toFixed(0)} s; logs in ${workDir}\n`);
  if (options.jsonPath) {
    const data = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      loadAverage: { before: loadBefore, after: loadAfter },
      options,
      sections: results.map((r) => ({ name: r.name, error: r.error, ...r.result })),
    };
    writeFileSync(
      resolve(root, options.jsonPath),
      JSON.stringify(data, (_k, v: unknown) => (v instanceof Float64Array ? undefined : v), 2),
    );
  }
  return results.some((r) => r.error) ? 1 : 0;
}

function print(result: SectionResult): void {
  const out = [`\n## ${result.title}`];
  for (const t of result.tables) out.push('', t.heading, renderTable(t.rows));
  if (result.notes.length) out.push('', ...result.notes.map((n) => `- ${n}`));
  process.stdout.write(out.join('\n') + '\n');
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).message}\n`);
    process.exit(1);
  },
);

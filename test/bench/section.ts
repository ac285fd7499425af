/**
 * What a bench section is, so other modules can add their own: a file
 * `test/bench/<name>.ts` exporting `section: BenchSection` is run by
 * `npm run bench` after the spine (unless `--only` leaves it out).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface BenchOptions {
  /** A ~30 s run with fewer and shorter rounds. */
  quick: boolean;
  /** Alternating rounds per concurrency level. */
  rounds: number;
  /** Measured time per round, ms. */
  durationMs: number;
  /** Warm-up per round, ms (not measured). */
  warmupMs: number;
  /** Concurrency levels, lowest first. */
  concurrency: number[];
  /** Also run a CPU-profiled pass of the relay. */
  profile: boolean;
  /** Extra `node` flags for the relay process, e.g. `--max-old-space-size=96`. */
  relayFlags: string[];
  /** Section names to run; undefined runs all found. */
  only?: string[];
  /** Where to write the JSON results; undefined writes none. */
  jsonPath?: string;
}

export interface BenchContext {
  options: BenchOptions;
  /** The repository root (the working directory for child processes). */
  root: string;
  /** A scratch directory for configs, logs and profiles. */
  workDir: string;
  /** Progress output (stderr), kept apart from the results on stdout. */
  progress(message: string): void;
}

export interface SectionResult {
  title: string;
  /** Tables to print, each with a heading. */
  tables: { heading: string; rows: Record<string, string>[] }[];
  /** Findings in sentences: aims met or not, what costs most. */
  notes: string[];
  /** Raw figures for bench-results.json. */
  data: unknown;
}

export interface BenchSection {
  name: string;
  run(context: BenchContext): Promise<SectionResult>;
}

/** Section modules other than the spine, looked for beside this file, in this order. */
export const EXTRA_SECTIONS = ['verify', 'async'];

/** Imports the extra sections that exist and are wanted; a module without a `section` export is an error. */
export async function loadExtraSections(dir: string, only?: string[]): Promise<BenchSection[]> {
  const found: BenchSection[] = [];
  for (const name of EXTRA_SECTIONS) {
    if (only && !only.includes(name)) continue;
    const file = join(dir, `${name}.ts`);
    if (!existsSync(file)) continue;
    const module = (await import(pathToFileURL(file).href)) as { section?: BenchSection };
    if (!module.section || typeof module.section.run !== 'function') {
      throw new Error(`test/bench/${name}.ts must export \`section\`: { name, run(context) }`);
    }
    found.push(module.section);
  }
  return found;
}

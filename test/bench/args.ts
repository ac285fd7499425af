/**
 * Command-line options of `npm run bench`.
 */
import type { BenchOptions } from './section.js';

export const USAGE = `Usage: npm run bench -- [options]
  --quick              about a minute: the spine only (aims, cold start, RSS), 2 rounds of 1 s per variant and level
  --rounds N           alternating rounds per concurrency level (default 5)
  --duration MS        measured time per round (default 2500)
  --concurrency 1,32   concurrency levels, comma-separated (default 1,32)
  --only NAMES         sections to run, comma-separated: spine, verify, async (default all; spine with --quick)
  --no-profile         skip the CPU-profiled run of the relay
  --relay-flags FLAGS  extra node flags for the relay, space-separated (e.g. "--max-old-space-size=96")
  --json PATH          where to write the results (default bench-results.json; "-" for none)`;

function positiveInt(flag: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`Expected \`${flag}\` to be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

/** Parses argv (without node and script); throws an Error naming the bad flag. */
export function parseArgs(argv: readonly string[]): BenchOptions {
  const quick = argv.includes('--quick');
  const options: BenchOptions = {
    quick,
    rounds: quick ? 2 : 5,
    durationMs: quick ? 1_000 : 2_500,
    warmupMs: quick ? 200 : 400,
    concurrency: [1, 32],
    profile: true,
    relayFlags: [],
    jsonPath: 'bench-results.json',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`Expected a value after \`${flag}\``);
      return v;
    };
    switch (flag) {
      case '--quick':
        break;
      case '--rounds':
        options.rounds = positiveInt(flag, value());
        break;
      case '--duration':
        options.durationMs = positiveInt(flag, value());
        break;
      case '--concurrency':
        options.concurrency = value()
          .split(',')
          .map((c) => positiveInt(flag, c))
          .sort((x, y) => x - y);
        break;
      case '--only':
        options.only = value()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        break;
      case '--no-profile':
        options.profile = false;
        break;
      case '--relay-flags':
        options.relayFlags = value().split(/\s+/).filter(Boolean);
        if (options.relayFlags.some((f) => !f.startsWith('-')))
          throw new Error(`Expected \`--relay-flags\` to hold node flags only, got ${JSON.stringify(options.relayFlags.join(' '))}`);
        break;
      case '--json': {
        const path = value();
        options.jsonPath = path === '-' ? undefined : path;
        break;
      }
      default:
        throw new Error(`Unknown option \`${flag}\`\n${USAGE}`);
    }
  }
  return options;
}

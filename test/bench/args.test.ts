import { describe, expect, it } from 'vitest';
import { parseArgs } from './args.js';

describe('bench command-line options', () => {
  it('defaults to five rounds at concurrency 1 and 32 with a profile and a JSON file', () => {
    expect(parseArgs([])).toMatchObject({ quick: false, rounds: 5, concurrency: [1, 32], profile: true, jsonPath: 'bench-results.json' });
  });

  it('makes --quick a short run that later flags can still adjust', () => {
    const options = parseArgs(['--quick', '--rounds', '3']);
    expect(options).toMatchObject({ quick: true, rounds: 3, durationMs: 1_000 });
  });

  it('reads --only, --concurrency (sorted), --no-profile and --json -', () => {
    expect(parseArgs(['--only', 'spine, verify', '--concurrency', '64,4', '--no-profile', '--json', '-'])).toMatchObject({
      only: ['spine', 'verify'],
      concurrency: [4, 64],
      profile: false,
      jsonPath: undefined,
    });
  });

  it('splits --relay-flags into node flags for the relay', () => {
    expect(parseArgs(['--relay-flags', '--max-old-space-size=96  --trace-gc']).relayFlags).toEqual([
      '--max-old-space-size=96',
      '--trace-gc',
    ]);
  });

  it.each([
    [['--relay-flags', 'max-old-space-size=96'], /`--relay-flags` to hold node flags only/],
    [['--rounds', '0'], /`--rounds` to be a positive integer, got "0"/],
    [['--duration'], /value after `--duration`/],
    [['--concurrency', '1,x'], /`--concurrency` to be a positive integer, got "x"/],
    [['--fast'], /Unknown option `--fast`/],
  ])('refuses %j with a message naming the flag', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

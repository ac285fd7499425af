/**
 * Cold start alone (`npm run bench:cold [-- --runs N] [--relay-flags "FLAGS"] [--source FILE] [--compare FILE]`): the same measurement
 * as the spine's (test/bench/cold-start.ts), with only what it needs running
 * beside it: the metadata emulator and the token-verifying target. Prints
 * each start and the medians. Runs on what `npm run build` left in dist/.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMetadataServer } from '../emulators/metadata-server.js';
import { measureColdStart } from './cold-start.js';
import { sampleDelivery } from './delivery.js';
import { freePort, startServer } from './processes.js';
import { FRAMEWORK_MAIN, platformEnv, WEBHOOK_SECRET, writeSpineConfig } from './stack.js';
import { median } from './stats.js';

const runsAt = process.argv.indexOf('--runs');
const runs = runsAt >= 0 ? Number(process.argv[runsAt + 1]) : 7;
if (!Number.isInteger(runs) || runs <= 0)
  throw new Error(`Expected \`--runs\` to be a positive integer, got ${JSON.stringify(process.argv[runsAt + 1])}`);
const sourceAt = process.argv.indexOf('--source');
const source = sourceAt >= 0 ? process.argv[sourceAt + 1]! : 'dist/functions/index.js';
const compareAt = process.argv.indexOf('--compare');
const compare = compareAt >= 0 ? process.argv[compareAt + 1]! : undefined;
const flagsAt = process.argv.indexOf('--relay-flags');
const relayFlags = flagsAt >= 0 ? process.argv[flagsAt + 1]!.split(/\s+/).filter(Boolean) : [];
const root = process.cwd();
const workDir = mkdtempSync(join(tmpdir(), 'relay-cold-'));
const metadata = await startMetadataServer();
const port = await freePort();
const verifying = await startServer({
  name: 'verifying-target',
  args: ['--import', 'tsx', 'test/bench/servers/verifying-target.ts'],
  port,
  env: { PORT: String(port), JWKS_URL: metadata.jwksUrl },
  cwd: root,
  logFile: join(workDir, 'verifying-target.log'),
});
try {
  const configPath = writeSpineConfig(workDir, verifying.url);
  const relayOf = (file: string) => ({
    args: [...relayFlags, FRAMEWORK_MAIN, '--target=webhook', `--source=${file}`, '--port={port}'],
    env: {
      ...platformEnv('relay-webhook', 'webhook'),
      RELAY_CONFIG: configPath,
      GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      GCE_METADATA_HOST: metadata.host,
      GOOGLE_CLOUD_PROJECT: 'local-project',
    },
  });
  const measure = (file: string, n: number) =>
    measureColdStart({
      root,
      workDir,
      runs: n,
      relay: relayOf(file),
      frameworkMain: FRAMEWORK_MAIN,
      delivery: sampleDelivery(WEBHOOK_SECRET),
      targetUrl: verifying.url,
    });
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' ');
  process.stdout.write(`logs in ${workDir}\n`);
  if (!compare) {
    const figures = await measure(source, runs);
    process.stdout.write(
      `webhook (to the first relayed answer): ${fmt(figures.webhookRuns)} ms\nhello: ${fmt(figures.helloRuns)} ms\nmedian ${figures.webhookMs.toFixed(1)} vs ${figures.helloMs.toFixed(1)} ms: ${figures.ratio.toFixed(2)}x (aim <= 1.3x), ${runs} alternating starts\n`,
    );
  } else {
    // Two builds side by side: each round starts one, then the other (order swapped every round), each beside a hello start.
    const runsOf = new Map<string, { webhook: number[]; hello: number[] }>([
      [source, { webhook: [], hello: [] }],
      [compare, { webhook: [], hello: [] }],
    ]);
    for (let i = 0; i < runs; i++) {
      for (const file of i % 2 === 0 ? [source, compare] : [compare, source]) {
        const f = await measure(file, 1);
        runsOf.get(file)!.webhook.push(...f.webhookRuns);
        runsOf.get(file)!.hello.push(...f.helloRuns);
      }
    }
    const hello = [...runsOf.values()].flatMap((r) => r.hello);
    process.stdout.write(`hello: ${fmt(hello)} ms, median ${median(hello).toFixed(1)}\n`);
    for (const [file, r] of runsOf)
      process.stdout.write(
        `${file}: ${fmt(r.webhook)} ms, median ${median(r.webhook).toFixed(1)}: ${(median(r.webhook) / median(hello)).toFixed(2)}x the hello median (aim <= 1.3x)\n`,
      );
  }
} finally {
  await verifying.stop();
  await metadata.close();
}

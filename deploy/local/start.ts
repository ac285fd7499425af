/**
 * `npm start`: the whole relay on loopback, behaving like Google Cloud.
 *
 * - a metadata-server emulator minting RS256 ID tokens for any audience
 *   (google-auth-library reaches it through GCE_METADATA_HOST, the real path);
 * - a demo private target that refuses requests without a valid token for its
 *   audience, as Cloud Run does, and logs what it receives;
 * - the relay's `webhook` and `pubsub` functions, each served by the Functions
 *   Framework CLI in a child process, with deploy/local/relay.config.yaml;
 * - the Pub/Sub emulator (when gcloud's pubsub-emulator is installed) with the
 *   delivery topic pushed to `pubsub` and a dead-letter topic, and the config's
 *   schedules run on their cron.
 *
 * Ports: RELAY_PORT (8080), METADATA_PORT (8081), TARGET_PORT (8082),
 * PUBSUB_FUNCTION_PORT (8083). Ctrl-C stops all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../shared/config/load.js';
import { createLogger } from '../../shared/log.js';
import { ensureSubscription, pushEndpointFor } from '../../shared/pubsub/admin.js';
import { openPubSub, pubSubOptionsOf, pubSubPublisher } from '../../shared/pubsub/publisher.js';
import { parseSettings } from '../../shared/settings.js';
import { runSchedules } from '../../shared/schedule/schedule.js';
import { startMetadataServer } from '../../test/emulators/metadata-server.js';
import { startPrivateTarget } from '../../test/emulators/private-target.js';
import { FRAMEWORK_MAIN } from '../../test/support/framework-process.js';
import { startPubSubEmulator, type PubSubEmulator } from '../../test/support/pubsub-emulator.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const port = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const relayPort = port('RELAY_PORT', 8080);
const metadataPort = port('METADATA_PORT', 8081);
const targetPort = port('TARGET_PORT', 8082);
const pubsubPort = port('PUBSUB_FUNCTION_PORT', 8083);
const githubSecret = process.env.GITHUB_WEBHOOK_SECRET ?? 'local-github-secret';
const partnerSecret = process.env.PARTNER_BEARER_SECRET ?? 'local-partner-key';
const configPath = process.env.RELAY_CONFIG ?? join(root, 'deploy/local/relay.config.yaml');

const children: ChildProcess[] = [];
let emulator: PubSubEmulator | undefined;
let schedules: { stop(): void } | undefined;
let stopping = false;

const metadata = await startMetadataServer({ port: metadataPort });
const target = await startPrivateTarget({ port: targetPort, keys: () => [metadata.key.jwk], verbose: true });

async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    schedules?.stop();
    for (const child of children) child.kill('SIGTERM');
    await Promise.allSettled([metadata.close(), target.close(), emulator?.close()]);
  }
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
// Whatever ends this process, its children (the functions, the emulator's process group) end with it.
process.on('exit', () => {
  for (const child of children) child.kill('SIGTERM');
  void emulator?.close();
});
process.on('uncaughtException', (error) => {
  console.error(`npm start failed: ${error.message}`);
  void stop(1);
});
process.on('unhandledRejection', (error) => {
  console.error(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
  void stop(1);
});

// Pub/Sub first: both functions need PUBSUB_EMULATOR_HOST in their environment.
console.log('Starting the Pub/Sub emulator (a few seconds)...');
emulator = await startPubSubEmulator('npm start (async routes, schedules, dead letters)', { ...process.env, CI: '' });
// The Pub/Sub client in this process (topics, schedules) finds the emulator through the environment.
if (emulator) process.env.PUBSUB_EMULATOR_HOST = emulator.host;
const env: NodeJS.ProcessEnv = {
  ...process.env,
  RELAY_CONFIG: configPath,
  GCE_METADATA_HOST: metadata.host,
  GOOGLE_CLOUD_PROJECT: process.env.GOOGLE_CLOUD_PROJECT ?? 'local-project',
  GITHUB_WEBHOOK_SECRET: githubSecret,
  PARTNER_BEARER_SECRET: partnerSecret,
  ...(emulator ? { PUBSUB_EMULATOR_HOST: emulator.host } : {}),
};
const loaded = loadConfig(env);
const projectId = loaded.config.projectId ?? env.GOOGLE_CLOUD_PROJECT!;

function serve(target: string, listenPort: number): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', FRAMEWORK_MAIN, `--target=${target}`, `--source=${join(root, 'functions/index.ts')}`, `--port=${listenPort}`],
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env },
  );
  child.on('exit', (code) => {
    if (!stopping) {
      console.error(`The ${target} function exited (code ${code}); stopping the local stack.`);
      void stop(code || 1);
    }
  });
  children.push(child);
  return child;
}

async function waitFor(url: string, what: string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  console.error(`${what} did not answer within 30 s.`);
  await stop(1);
}

serve('webhook', relayPort);
const relayUrl = `http://127.0.0.1:${relayPort}`;
const pubsubUrl = `http://127.0.0.1:${pubsubPort}`;
if (emulator) serve('pubsub', pubsubPort);
await waitFor(`${relayUrl}/healthz`, 'The webhook function');

if (emulator) {
  await waitFor(pubsubUrl, 'The pubsub function');
  const pubsub = await openPubSub(pubSubOptionsOf(projectId, parseSettings(env)));
  const { deliveryTopic, deadLetterTopic, deadLetterSubscription } = loaded.config.pubsub;
  await ensureSubscription(pubsub, { topic: deliveryTopic, name: `${deliveryTopic}-push`, pushEndpoint: pushEndpointFor(pubsubUrl, projectId, deliveryTopic), minBackoffSeconds: 1, maxBackoffSeconds: 10 });
  await ensureSubscription(pubsub, { topic: deadLetterTopic, name: deadLetterSubscription });
  schedules = runSchedules(loaded.config, { publisher: pubSubPublisher(pubSubOptionsOf(projectId, parseSettings(env))), logger: createLogger({ level: parseSettings(env).logLevel }) });
}

const body = JSON.stringify({ action: 'opened', issue: { number: 1, title: 'Hello from run-relay' } });
const signature = 'sha256=' + createHmac('sha256', githubSecret).update(body).digest('hex');
const cliEnv = `RELAY_CONFIG=${configPath} GITHUB_WEBHOOK_SECRET=${githubSecret} PARTNER_BEARER_SECRET=${partnerSecret}${emulator ? ` PUBSUB_EMULATOR_HOST=${emulator.host}` : ''}`;
console.log(`
run-relay is running on loopback.

  webhook function           ${relayUrl}   POST /github, /github-async, /partner; GET /healthz
  pubsub function            ${emulator ? `${pubsubUrl}   pushed from topic ${loaded.config.pubsub.deliveryTopic}` : '(not running: no Pub/Sub emulator)'}
  Pub/Sub emulator           ${emulator ? `${emulator.host}   (PUBSUB_EMULATOR_HOST)` : 'unavailable: async routes answer 503, schedules do not run'}
  metadata-server emulator   ${metadata.url}   (GCE_METADATA_HOST=${metadata.host})
  demo private target        ${target.url}   (accepts only ID tokens for ${target.audience})

Send a signed GitHub-style webhook (use /github-async for durable delivery through Pub/Sub):

  curl -i ${relayUrl}/github \\
    -H 'content-type: application/json' \\
    -H 'x-github-event: issues' \\
    -H 'x-github-delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958' \\
    -H 'x-hub-signature-256: ${signature}' \\
    -d '${body}'

Or the bearer-key route:

  curl -i ${relayUrl}/partner -H 'authorization: Bearer ${partnerSecret}' -d 'hello'

Try the same against the target directly (${target.url}/hooks/github): it answers 401.
${
  emulator
    ? `
The schedule "heartbeat" runs every 5 minutes. From another terminal:

  ${cliEnv} npm run relay -- schedule run heartbeat
  ${cliEnv} npm run relay -- dlq list
`
    : ''
}
Ctrl-C stops everything.
`);

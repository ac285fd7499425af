/**
 * `npm start`: the whole relay on loopback, behaving like Google Cloud.
 *
 * - a metadata-server emulator minting RS256 ID tokens for any audience
 *   (google-auth-library reaches it through GCE_METADATA_HOST, the real path);
 * - a demo private target that refuses requests without a valid token for its
 *   audience, as Cloud Run does, and logs what it receives;
 * - the relay's `webhook` and `pubsub` functions, each served by the Functions
 *   Framework CLI in a child process, with deploy/local/relay.config.yaml, from
 *   the same one-file bundle Cloud Functions runs (deploy/bundle.ts, rebuilt here
 *   from the sources first, in about a second);
 * - the Pub/Sub emulator (when gcloud's pubsub-emulator is installed) with the
 *   delivery topic pushed to `pubsub` and a dead-letter topic, and the config's
 *   schedules run on their cron.
 *
 * The config is RELAY_CONFIG (default deploy/local/relay.config.yaml); it is
 * validated before anything starts (every problem at once, exit 2), and each
 * secret it names that the environment leaves unset gets a local value.
 * Once everything answers, where it all listens (and those secrets) goes to
 * .relay-local.json, which the CLI reads; it is removed on exit.
 *
 * Ports: RELAY_PORT (8080), METADATA_PORT (8081), TARGET_PORT (8082),
 * PUBSUB_FUNCTION_PORT (8083), INSPECTOR_PORT (8084, the local inspector page:
 * deploy/local/inspector). Ctrl-C stops all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCAL_STATE_FILE, removeLocalState, writeLocalState } from '../../shared/cli/local-state.js';
import { checkConfig } from '../../shared/config/check.js';
import { ConfigError, readConfigFile } from '../../shared/config/load.js';
import { createLogger } from '../../shared/log.js';
import { ensureSubscription, pushEndpointFor } from '../../shared/pubsub/admin.js';
import { openPubSub, pubSubOptionsOf, pubSubPublisher } from '../../shared/pubsub/publisher.js';
import { openPuller } from '../../shared/pubsub/pull.js';
import { parseSettings } from '../../shared/settings.js';
import { runSchedules } from '../../shared/schedule/schedule.js';
import { startMetadataServer } from '../../test/emulators/metadata-server.js';
import { startPrivateTarget } from '../../test/emulators/private-target.js';
import { FRAMEWORK_MAIN } from '../../test/support/framework-process.js';
import { startPubSubEmulator, type PubSubEmulator } from '../../test/support/pubsub-emulator.js';
import { bannerLines } from './banner.js';
import { buildFunctions } from '../bundle.js';
import { localSecrets } from './local-secrets.js';
import { deadLetterInbox } from './inspector/dead-letters.js';
import { metadataIdToken, sendAgain } from './inspector/send-again.js';
import { startInspector } from './inspector/server.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const port = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const relayPort = port('RELAY_PORT', 8080);
const metadataPort = port('METADATA_PORT', 8081);
const targetPort = port('TARGET_PORT', 8082);
const pubsubPort = port('PUBSUB_FUNCTION_PORT', 8083);
const configPath = resolve(process.env.RELAY_CONFIG || join(root, 'deploy/local/relay.config.yaml'));
const started = Date.now();

// Validate before starting anything: a bad config costs no emulator start-up, and every problem shows at once.
let input: unknown;
try {
  input = readConfigFile(configPath);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(2);
}
const secrets = localSecrets(input, process.env);
const checked = checkConfig(input, { ...process.env, ...secrets });
if (!checked.config || checked.issues.length > 0) {
  console.error(new ConfigError(configPath, checked.issues).message);
  console.error(
    `\nnpm start did not start anything (${checked.issues.length} problem${checked.issues.length === 1 ? '' : 's'}); \`npm run relay -- validate --no-secrets --config ${configPath}\` checks again (npm start makes up the secrets).`,
  );
  process.exit(2);
}
const config = checked.config;

const children: ChildProcess[] = [];
// Declared before the signal handlers that close it, assigned once it has started.
// eslint-disable-next-line prefer-const -- a const further down would be in its TDZ when a handler runs
let emulator: PubSubEmulator | undefined;
let schedules: { stop(): void } | undefined;
let stopping = false;

const metadata = await startMetadataServer({ port: metadataPort });
const target = await startPrivateTarget({ port: targetPort, keys: () => [metadata.key.jwk], verbose: true });
// Reads the functions' log lines and the dead-letter inbox; "send again" signs with the same secrets as the functions.
const inspector = await startInspector({
  port: port('INSPECTOR_PORT', 8084),
  send: (request) =>
    sendAgain(request, { relayUrl, config, secret: (name) => env[name], idToken: (audience) => metadataIdToken(metadata.url, audience) }),
});

async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    schedules?.stop();
    removeLocalState(root);
    for (const child of children) child.kill('SIGTERM');
    await Promise.allSettled([metadata.close(), target.close(), emulator?.close(), inspector.close()]);
  }
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
// Whatever ends this process, its children (the functions, the emulator's process group) end with it.
process.on('exit', () => {
  removeLocalState(root);
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
const projectId = config.projectId ?? process.env.GOOGLE_CLOUD_PROJECT ?? 'local-project';
const relayUrl = `http://127.0.0.1:${relayPort}`;
const pubsubUrl = `http://127.0.0.1:${pubsubPort}`;
/** What the functions get on top of this environment, and what the CLI reads from the state file. */
const localEnv: Record<string, string> = {
  RELAY_CONFIG: configPath,
  GCE_METADATA_HOST: metadata.host,
  RELAY_GOOGLE_CERTS_URL: metadata.pemCertsUrl,
  GOOGLE_CLOUD_PROJECT: projectId,
  RELAY_URL: relayUrl,
  ...secrets,
  ...(emulator ? { PUBSUB_EMULATOR_HOST: emulator.host } : {}),
};
// RELAY_LOG_TRAFFIC: masked headers and bodies on the log lines the inspector reads.
const env: NodeJS.ProcessEnv = { ...process.env, ...localEnv, RELAY_LOG_TRAFFIC: '1' };

// The artifact Cloud Functions runs (`main` after `npm run build`, its code cache included), built from the current sources.
const entry = await buildFunctions(root);

function serve(target: string, listenPort: number): ChildProcess {
  const child = spawn(process.execPath, [FRAMEWORK_MAIN, `--target=${target}`, `--source=${entry}`, `--port=${listenPort}`], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  inspector.watch(child.stdout!); // echoes every line here too
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
if (emulator) serve('pubsub', pubsubPort);
await waitFor(`${relayUrl}/healthz`, 'The webhook function');

if (emulator) {
  await waitFor(pubsubUrl, 'The pubsub function');
  const settings = parseSettings(env);
  const pubsub = await openPubSub(pubSubOptionsOf(projectId, settings));
  const { deliveryTopic, deadLetterTopic, deadLetterSubscription } = config.pubsub;
  await ensureSubscription(pubsub, {
    topic: deliveryTopic,
    name: `${deliveryTopic}-push`,
    pushEndpoint: pushEndpointFor(pubsubUrl, projectId, deliveryTopic),
    minBackoffSeconds: 1,
    maxBackoffSeconds: 10,
  });
  await ensureSubscription(pubsub, { topic: deadLetterTopic, name: deadLetterSubscription });
  inspector.useDeadLetters(
    deadLetterInbox({
      puller: await openPuller(pubsub, deadLetterSubscription),
      publisher: pubSubPublisher(pubSubOptionsOf(projectId, settings)),
      defaultTopic: deliveryTopic,
    }),
  );
  schedules = runSchedules(config, {
    publisher: pubSubPublisher(pubSubOptionsOf(projectId, settings)),
    logger: createLogger({ level: settings.logLevel }),
  });
}

const stateFile = writeLocalState(
  {
    version: 1,
    pid: process.pid,
    startedAt: new Date().toISOString(),
    configPath,
    projectId,
    urls: { webhook: relayUrl, ...(emulator ? { pubsub: pubsubUrl } : {}), metadata: metadata.url, target: target.url },
    ...(emulator ? { pubsubEmulatorHost: emulator.host } : {}),
    topics: {
      delivery: config.pubsub.deliveryTopic,
      deadLetter: config.pubsub.deadLetterTopic,
      deadLetterSubscription: config.pubsub.deadLetterSubscription,
    },
    env: localEnv,
  },
  root,
);
console.log(
  bannerLines({
    config,
    configPath,
    root,
    relayUrl,
    pubsubUrl: emulator ? pubsubUrl : undefined,
    emulatorHost: emulator?.host,
    metadata,
    target,
    stateFile,
    extra: [{ label: 'inspector', url: inspector.url }],
  }).join('\n'),
);
console.log(`(ready in ${((Date.now() - started) / 1000).toFixed(1)} s; ${LOCAL_STATE_FILE} written)`);

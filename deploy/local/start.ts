/**
 * `npm start`: the whole relay on loopback, behaving like Google Cloud.
 *
 * - a metadata-server emulator minting RS256 ID tokens for any audience
 *   (google-auth-library reaches it through GCE_METADATA_HOST, the real path);
 * - a demo private target that refuses requests without a valid token for its
 *   audience, as Cloud Run does, and logs what it receives;
 * - the relay's functions, served by the Functions Framework in a child process,
 *   with the example config in deploy/local/relay.config.yaml.
 *
 * Ports: RELAY_PORT (8080), TARGET_PORT (8082), METADATA_PORT (8081). Ctrl-C stops all.
 */
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMetadataServer } from '../../test/emulators/metadata-server.js';
import { startPrivateTarget } from '../../test/emulators/private-target.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const port = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const relayPort = port('RELAY_PORT', 8080);
const targetPort = port('TARGET_PORT', 8082);
const metadataPort = port('METADATA_PORT', 8081);
const githubSecret = process.env.GITHUB_WEBHOOK_SECRET ?? 'local-github-secret';
const partnerSecret = process.env.PARTNER_BEARER_SECRET ?? 'local-partner-key';

const metadata = await startMetadataServer({ port: metadataPort });
const target = await startPrivateTarget({ port: targetPort, keys: () => [metadata.key.jwk], verbose: true });

// The framework's CLI entry sits beside its library entry.
const frameworkMain = join(dirname(createRequire(import.meta.url).resolve('@google-cloud/functions-framework')), 'main.js');
const relay = spawn(
  process.execPath,
  ['--import', 'tsx', frameworkMain, '--target=webhook', `--source=${join(root, 'functions/index.ts')}`, `--port=${relayPort}`],
  {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      RELAY_CONFIG: process.env.RELAY_CONFIG ?? join(root, 'deploy/local/relay.config.yaml'),
      GCE_METADATA_HOST: metadata.host,
      GOOGLE_CLOUD_PROJECT: process.env.GOOGLE_CLOUD_PROJECT ?? 'local-project',
      GITHUB_WEBHOOK_SECRET: githubSecret,
      PARTNER_BEARER_SECRET: partnerSecret,
    },
  },
);

let stopping = false;
async function stop(code: number) {
  if (stopping) return;
  stopping = true;
  relay.kill('SIGTERM');
  await Promise.allSettled([metadata.close(), target.close()]);
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
relay.on('exit', (code) => {
  if (!stopping) {
    console.error(`The relay process exited (code ${code}); stopping the local stack.`);
    void stop(code || 1);
  }
});

// Wait for the relay to answer its health check before printing the instructions.
const relayUrl = `http://127.0.0.1:${relayPort}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${relayUrl}/healthz`)).ok) break;
  } catch {
    // not listening yet
  }
  if (i > 150) {
    console.error('The relay did not answer /healthz within 30 s.');
    await stop(1);
  }
  await new Promise((r) => setTimeout(r, 200));
}

const body = JSON.stringify({ action: 'opened', issue: { number: 1, title: 'Hello from run-relay' } });
const signature = 'sha256=' + createHmac('sha256', githubSecret).update(body).digest('hex');
console.log(`
run-relay is running on loopback.

  relay (webhook function)   ${relayUrl}        routes: POST /github, POST /partner, GET /healthz
  metadata-server emulator   ${metadata.url}   (GCE_METADATA_HOST=${metadata.host})
  demo private target        ${target.url}   (accepts only ID tokens for ${target.audience})

Send a signed GitHub-style webhook:

  curl -i ${relayUrl}/github \\
    -H 'content-type: application/json' \\
    -H 'x-github-event: issues' \\
    -H 'x-github-delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958' \\
    -H 'x-hub-signature-256: ${signature}' \\
    -d '${body}'

Or the bearer-key route:

  curl -i ${relayUrl}/partner -H 'authorization: Bearer ${partnerSecret}' -d 'hello'

Try the same curl against the target directly (${target.url}/hooks/github): it answers 401.
Ctrl-C stops everything.
`);

/**
 * The CLI against a running in-process stack (the relay's functions on the
 * Functions Framework, token-checking targets, the Pub/Sub emulator), found
 * the way `npm start` publishes it: through the local state, with no
 * environment prefix.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LOCAL_STATE_FILE, type LocalState } from '../../shared/cli/local-state.js';
import { main } from '../../shared/cli/main.js';
import { sendJson } from '../emulators/http-util.js';
import type { MetadataServer } from '../emulators/metadata-server.js';
import { eventually, PROJECT, startAsyncStack, type AsyncStack } from '../support/async-stack.js';
import { freePort } from '../support/free-port.js';
import { startPubSubEmulator } from '../support/pubsub-emulator.js';
import { useMetadataServer } from '../support/stack.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const emulator = await startPubSubEmulator('run-relay send and dlq against a local stack (test/integration/cli-local.test.ts)');
const run = promisify(execFile);
const SECRETS = { GITHUB_WEBHOOK_SECRET: 'cli-github-secret', PARTNER_BEARER_SECRET: 'cli-partner-key' };
const github = { scheme: 'github', secretEnv: 'GITHUB_WEBHOOK_SECRET' };

let metadata: MetadataServer;
let stack: AsyncStack;
let state: LocalState;
let dir: string;

beforeAll(async () => {
  if (!emulator) return;
  metadata = await useMetadataServer();
  const routes = {
    github: { verify: github, forward: [{ target: 'demo', path: '/hooks/github' }] },
    'github-async': { mode: 'async', verify: github, forward: [{ target: 'demo', path: '/hooks/async' }] },
    partner: { verify: { scheme: 'bearer', secretEnv: 'PARTNER_BEARER_SECRET' }, forward: [{ target: 'demo', path: '/hooks/partner' }] },
    refused: { mode: 'async', verify: github, forward: [{ target: 'refuses', path: '/no' }] },
  };
  stack = await startAsyncStack({
    metadata,
    env: SECRETS,
    routes,
    targets: { demo: {}, refuses: { behaviour: (_req, res) => sendJson(res, 422, { error: 'no' }) } },
  });
  dir = mkdtempSync(join(tmpdir(), 'relay-cli-local-'));
  const configPath = join(dir, 'relay.config.json');
  const targets = Object.fromEntries(Object.entries(stack.targets).map(([name, t]) => [name, { url: t.url, retry: { retries: 0 } }]));
  const pubsub = {
    deliveryTopic: stack.topics.delivery,
    deadLetterTopic: stack.topics.deadLetter,
    deadLetterSubscription: stack.topics.deadLetterSubscription,
  };
  writeFileSync(configPath, JSON.stringify({ projectId: PROJECT, targets, routes, pubsub }));
  state = {
    version: 1,
    pid: process.pid,
    startedAt: new Date().toISOString(),
    configPath,
    projectId: PROJECT,
    urls: { webhook: stack.webhookUrl, pubsub: stack.pubsubUrl, metadata: metadata.url, target: stack.targets.demo!.url },
    pubsubEmulatorHost: emulator.host,
    topics: { delivery: pubsub.deliveryTopic, deadLetter: pubsub.deadLetterTopic, deadLetterSubscription: pubsub.deadLetterSubscription },
    env: {
      RELAY_CONFIG: configPath,
      RELAY_URL: stack.webhookUrl,
      PUBSUB_EMULATOR_HOST: emulator.host,
      GCE_METADATA_HOST: metadata.host,
      GOOGLE_CLOUD_PROJECT: PROJECT,
      ...SECRETS,
    },
  };
  // The child's state names no metadata server, so a Pub/Sub client that looked for credentials would probe and warn.
  const { GCE_METADATA_HOST: _, ...childEnv } = state.env;
  writeFileSync(join(dir, LOCAL_STATE_FILE), JSON.stringify({ ...state, env: childEnv }));
  writeFileSync(join(dir, 'push.json'), '{"ref":"refs/heads/main","commits":[]}\n');
});
afterAll(async () => {
  await stack?.close();
  await metadata?.close();
  await emulator?.close();
});

/** `run-relay ...` in-process with an empty environment: everything comes from the local state. */
async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const lines: string[] = [];
  const errors: string[] = [];
  const spy = vi.spyOn(console, 'error').mockImplementation((line: unknown) => void errors.push(String(line)));
  try {
    const code = await main(args, env, (line) => lines.push(line), { localState: () => state });
    return { code, out: lines.join('\n'), err: errors.join('\n') };
  } finally {
    spy.mockRestore();
  }
}

/** `run-relay send ... --body -` with `input` on standard input, in a child process. */
function childWithStdin(args: string[], input: string): Promise<{ code: number | null; stdout: string }> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(RELAY_|PUBSUB_EMULATOR_HOST|GCE_METADATA_HOST|GOOGLE_CLOUD_PROJECT|GITHUB_WEBHOOK_SECRET|PARTNER_BEARER_SECRET)/.test(k),
    ),
  );
  const loader = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
  const proc = spawn(process.execPath, ['--import', loader, join(ROOT, 'shared/cli/bin.ts'), ...args], {
    cwd: dir,
    env,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let stdout = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stdin.end(input);
  return new Promise((resolve) => proc.once('exit', (code) => resolve({ code, stdout })));
}

/** The real `run-relay` binary in a child process whose working directory holds the state file, and whose environment names none of the stack. */
async function child(args: string[]) {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(RELAY_|PUBSUB_EMULATOR_HOST|GCE_METADATA_HOST|GOOGLE_CLOUD_PROJECT|GITHUB_WEBHOOK_SECRET|PARTNER_BEARER_SECRET)/.test(k),
    ),
  );
  const loader = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
  return run(process.execPath, ['--import', loader, join(ROOT, 'shared/cli/bin.ts'), ...args], { cwd: dir, env }).catch(
    (error: { stdout: string; stderr: string; code: number }) => error,
  );
}

describe.runIf(emulator)('run-relay send against the local stack', () => {
  it('signs a file as GitHub would and the relay forwards exactly those bytes to the target', async () => {
    const result = await cli(['send', 'github', '--body', join(dir, 'push.json'), '--event', 'push']);
    expect(result.code).toBe(0);
    expect(result.out).toContain(`POST ${stack.webhookUrl}/github -> 200 OK`);
    const received = stack.targets.demo!.received.at(-1)!;
    expect(received.path).toBe('/hooks/github');
    expect(received.body.toString()).toBe('{"ref":"refs/heads/main","commits":[]}\n');
    expect(received.headers['x-github-event']).toBe('push');
    expect(received.headers['idempotency-key']).toBe(received.headers['x-github-delivery']);
  });

  it('sends a sample event to an async route, answered 202 and delivered through Pub/Sub', async () => {
    const result = await cli(['send', 'github-async']);
    expect(result.code).toBe(0);
    expect(result.out).toContain('-> 202 Accepted');
    await eventually(() => stack.targets.demo!.received.some((r) => r.path === '/hooks/async'), 15_000, 'the async delivery');
  });

  it('presents the bearer secret, and exits 1 with the answer when a --header overrides it with a wrong one', async () => {
    expect((await cli(['send', 'partner'])).code).toBe(0);
    const refused = await cli(['send', 'partner', '--header', 'Authorization: Bearer wrong']);
    expect(refused.code).toBe(1);
    expect(refused.out).toContain('-> 401');
  });

  it('prints a curl command that the shell runs and the relay accepts', async () => {
    const printed = await cli(['send', 'github', '--curl', '--body', join(dir, 'push.json')]);
    expect(printed.code).toBe(0);
    expect(printed.out).toMatch(/^curl -i /);
    const { stdout } = await run('sh', ['-c', printed.out], { cwd: dir });
    expect(stdout).toMatch(/^HTTP\/1\.1 200/);
  });

  it('lets the environment win over the local state', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const result = await cli(['send', 'github'], { RELAY_URL: closed });
    expect(result.code).toBe(1);
    expect(result.err).toContain(`could not reach ${closed}/github`);
  });

  it('names the route and lists the known ones for an unknown route', async () => {
    const result = await cli(['send', 'gitlab']);
    expect(result.code).toBe(2);
    expect(result.err).toContain('no route named "gitlab"');
    expect(result.err).toContain('expected one of: github, github-async, partner, refused');
  });
});

describe.runIf(emulator)('the real run-relay binary next to a running stack', () => {
  it('sends, lists and shows a dead letter with no environment prefix and no MetadataLookupWarning', { timeout: 60_000 }, async () => {
    const sent = await child(['send', 'refused']);
    expect(sent.stdout).toContain('-> 202 Accepted');
    let listed = { stdout: '', stderr: '' };
    await eventually(
      async () => (listed = await child(['dlq', 'list'])).stdout.includes('1 parked'),
      30_000,
      'the refused delivery to be parked',
    );
    const row = listed.stdout.split('\n').find((l) => l.includes('\trefused\t'))!;
    expect(row).toContain('target_rejected\t422');
    const shown = await child(['dlq', 'show', row.split('\t')[0]!]);
    expect(JSON.parse(shown.stdout).body).toMatchObject({ event: 'test', sentBy: 'run-relay send' });
    for (const output of [sent, listed, shown]) expect(output.stderr).not.toContain('MetadataLookupWarning');
  });

  it('reads --body - from standard input and sends those bytes', { timeout: 30_000 }, async () => {
    const result = await childWithStdin(['send', 'github', '--body', '-'], 'action=opened&number=3');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('/github -> 200 OK');
    const received = stack.targets.demo!.received.at(-1)!;
    expect(received.body.toString()).toBe('action=opened&number=3');
    expect(received.headers['content-type']).toBe('application/x-www-form-urlencoded');
  });
});

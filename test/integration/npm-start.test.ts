/**
 * `npm start` as a new user runs it: validation before anything starts, then
 * the whole stack, the state file, and the CLI working next to it with no
 * environment prefix and no warnings.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { LOCAL_STATE_FILE } from '../../shared/cli/local-state.js';
import { freePort } from '../support/free-port.js';
import { startPubSubEmulator } from '../support/pubsub-emulator.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);
const emulator = await startPubSubEmulator('npm start end to end (test/integration/npm-start.test.ts)');
const STACK_ENV =
  /^(RELAY_|PUBSUB_EMULATOR_HOST|GCE_METADATA_HOST|GOOGLE_CLOUD_PROJECT|GITHUB_WEBHOOK_SECRET|PARTNER_BEARER_SECRET|.*_PORT$)/;
const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !STACK_ENV.test(k)));

function startNpmStart(env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'deploy/local/start.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  return { child, output: () => output, exited: new Promise((r) => child.once('exit', (code) => r(code))) };
}

describe('npm start with a broken config', () => {
  it('lists every problem and exits 2 before starting anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-start-'));
    const file = join(dir, 'broken.yaml');
    writeFileSync(
      file,
      stringify({
        targets: { demo: { url: 'http://127.0.0.1:1' } },
        routes: { a: { forward: [] }, b: { verify: { scheme: 'github', secretEnv: 'S' }, forward: [{ target: 'nope' }] } },
        schedules: { s: { cron: '* * *', route: 'b' } },
      }),
    );
    const started = startNpmStart({ ...cleanEnv(), RELAY_CONFIG: file });
    expect(await started.exited).toBe(2);
    const output = started.output();
    for (const path of ['routes.a.verify', 'routes.a.forward', 'routes.b.forward[0].target', 'schedules.s.cron'])
      expect(output).toContain(`  - ${path}: `);
    expect(output).toContain('npm start did not start anything (4 problems)');
    expect(output).not.toContain('Starting the Pub/Sub emulator');
  });
});

describe.runIf(emulator)('npm start, then the CLI next to it', () => {
  let stack: ReturnType<typeof startNpmStart>;
  let readyMs = 0;
  let inspectorPort = 0;
  const cli = (args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'shared/cli/bin.ts', ...args], { cwd: ROOT, env: cleanEnv() }).catch(
      (e: { stdout: string; stderr: string }) => e,
    );

  beforeAll(async () => {
    // The built-in example, with its demo target on a free port so parallel runs do not collide.
    const [relay, metadata, target, pubsub] = [await freePort(), await freePort(), await freePort(), await freePort()];
    inspectorPort = await freePort();
    const config = parseYaml(readFileSync(join(ROOT, 'deploy/local/relay.config.yaml'), 'utf8'));
    config.targets.demo.url = `http://127.0.0.1:${target}`;
    const file = join(mkdtempSync(join(tmpdir(), 'relay-start-')), 'relay.config.yaml');
    writeFileSync(file, stringify(config));
    const started = Date.now();
    stack = startNpmStart({
      ...cleanEnv(),
      RELAY_CONFIG: file,
      RELAY_PORT: String(relay),
      METADATA_PORT: String(metadata),
      TARGET_PORT: String(target),
      PUBSUB_FUNCTION_PORT: String(pubsub),
      INSPECTOR_PORT: String(inspectorPort),
      PUBSUB_EMULATOR_HOST: emulator!.host,
    });
    for (let i = 0; i < 600 && !stack.output().includes('written)'); i++) await new Promise((r) => setTimeout(r, 100));
    readyMs = Date.now() - started;
    if (!stack.output().includes('written)')) throw new Error(`npm start did not get ready:\n${stack.output()}`);
  }, 90_000);
  afterAll(async () => {
    stack?.child.kill('SIGTERM');
    await stack?.exited;
  });

  it('prints a banner from the config in use and writes the state file', () => {
    process.stdout.write(`npm start: banner after ${readyMs} ms\n`);
    expect(stack.output()).toContain('npm run relay -- send github-async');
    expect(stack.output()).toMatch(new RegExp(`^  inspector +http://127\\.0\\.0\\.1:${inspectorPort}/$`, 'm'));
    const state = JSON.parse(readFileSync(join(ROOT, LOCAL_STATE_FILE), 'utf8'));
    expect(state.pid).toBe(stack.child.pid);
    expect(state.env.GITHUB_WEBHOOK_SECRET).toBe('local-github-secret');
  });

  it('sends examples/push.json and dead letters list, with no environment prefix and no warnings', async () => {
    const sent = await cli(['send', 'github', '--body', 'examples/push.json', '--event', 'push']);
    expect(sent.stdout).toContain('/github -> 200 OK');
    // The inspector read it from the webhook function's log line (the page itself is tested in inspector.test.ts).
    type State = { requests: { route: string; verdict: string; deliveries: { state: string }[] }[] };
    let seen: State['requests'][number] | undefined;
    for (let i = 0; i < 20 && !seen; i++, await new Promise((r) => setTimeout(r, 100))) {
      seen = ((await (await fetch(`http://127.0.0.1:${inspectorPort}/api/state`)).json()) as State).requests.find(
        (r) => r.route === 'github',
      );
    }
    expect(seen).toMatchObject({ verdict: 'forwarded', deliveries: [{ state: 'delivered' }] });
    const listed = await cli(['dlq', 'list']);
    expect(listed.stdout).toMatch(/\d+ parked in relay-dead-letters/);
    const tick = await cli(['schedule', 'run', 'heartbeat']);
    expect(tick.stdout).toContain('Published a tick of "heartbeat"');
    for (const output of [sent.stderr, listed.stderr, tick.stderr, stack.output()]) expect(output).not.toContain('MetadataLookupWarning');
  });

  it('removes the state file when stopped', async () => {
    stack.child.kill('SIGTERM');
    await stack.exited;
    expect(existsSync(join(ROOT, LOCAL_STATE_FILE))).toBe(false);
  });
});

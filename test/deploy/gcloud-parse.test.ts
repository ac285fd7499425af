/**
 * Every gcloud command a plan can run goes through the real `gcloud`, with
 * an empty config directory and no credentials: gcloud parses the whole
 * command line first, so an unknown flag or a malformed argument fails
 * here, while a well-formed command gets as far as "no active account" and
 * stops. No request leaves the machine.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderCommand } from '../../shared/deploy/command.js';
import { allCommands, planDeployment } from '../../shared/deploy/plan.js';
import { DeployError } from '../../shared/deploy/validate.js';
import { validateConfig } from '../../shared/config/load.js';
import { examplePlan, printed } from './example-plans.js';

/** The by-hand grant a refused target's error message offers. */
function commandInRefusal(): string {
  const config = validateConfig({ targets: { t: { url: 'https://t-x7k2p9q4ra-uc.a.run.app' } } });
  try {
    planDeployment(config, {
      project: 'my-proj',
      projectNumber: '1',
      region: 'us-central1',
      configPath: 'relay.config.yaml',
      sourceHash: 'x',
    });
  } catch (error) {
    if (error instanceof DeployError) return /(gcloud run services add-iam-policy-binding \S+ \S+ \S+)/.exec(error.message)![1]!;
  }
  throw new Error('expected the plan to be refused');
}

const NO_CREDENTIALS = 'You do not currently have an active account selected';
const configDir = mkdtempSync(join(tmpdir(), 'gcloud-empty-'));
afterAll(() => rmSync(configDir, { recursive: true, force: true }));

function runInShell(line: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-c', line],
      {
        timeout: 60_000,
        env: {
          PATH: process.env.PATH,
          HOME: configDir,
          CLOUDSDK_CONFIG: configDir,
          CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
          CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: 'true',
          CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: 'true',
        },
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
    );
  });
}

async function gcloudAvailable(): Promise<boolean> {
  const { code } = await runInShell('gcloud version');
  if (code === 0) return true;
  const message = 'gcloud is not installed: the suite "every planned gcloud command parses" could NOT run.';
  if (process.env.CI === 'true') throw new Error(`${message} CI=true, so this is a failure.`);
  process.stderr.write(`\n!! ${message} Install the Google Cloud CLI.\n\n`);
  return false;
}

/** Runs `items` through `work`, `limit` at a time. */
async function pool<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index]!);
      }
    }),
  );
  return results;
}

describe('every planned gcloud command parses', () => {
  it('is accepted by the real gcloud as printed: reads, creates, updates, removals and manual steps of every example plan', async () => {
    if (!(await gcloudAvailable())) return;
    // A config without secrets takes the --clear-secrets path.
    const noSecrets = planDeployment(
      validateConfig({
        targets: { t: { url: 'https://t-123456789012.us-central1.run.app' } },
        routes: { open: { mode: 'async', verify: { scheme: 'none' }, forward: [{ target: 't' }] } },
      }),
      { project: 'my-proj', projectNumber: '123456789012', region: 'us-central1', configPath: 'relay.config.yaml', sourceHash: 'x' },
    );
    const plans = [examplePlan('template'), examplePlan('full'), examplePlan('full', { webhookAccess: 'no-invoker-iam-check' }), noSecrets];
    const lines = new Set<string>();
    for (const plan of plans) {
      // What the operator sees, exactly as printed...
      for (const line of printed(plan).split('\n')) if (line.trim().startsWith('$ gcloud ')) lines.add(line.trim().slice(2));
      // ...and what apply, check and destroy run.
      for (const command of allCommands(plan)) lines.add(renderCommand(command));
    }
    lines.add(commandInRefusal());
    expect(lines.size).toBeGreaterThan(60);
    const results = await pool([...lines], 2, async (line) => ({ line, ...(await runInShell(line)) }));
    const refused = results.filter((r) => !r.output.includes(NO_CREDENTIALS));
    expect(refused.map((r) => `${r.line}\n  -> exit ${r.code}: ${r.output.split('\n').slice(0, 3).join(' | ')}`)).toEqual([]);
    // gcloud stops with an error (no credentials) on every one: nothing ran.
    expect(results.every((r) => r.code !== 0)).toBe(true);
  }, 600_000);

  it('tells a malformed command from a well-formed one (the check can fail)', async () => {
    if (!(await gcloudAvailable())) return;
    const good = await runInShell('gcloud pubsub topics create relay-deliveries --project=my-proj --labels=run-relay=x');
    const unknownFlag = await runInShell('gcloud pubsub topics create relay-deliveries --project=my-proj --lables=run-relay=x');
    const badValue = await runInShell('gcloud pubsub subscriptions create s --topic=t --project=my-proj --ack-deadline=soon');
    expect(good.output).toContain(NO_CREDENTIALS);
    expect(unknownFlag.output).not.toContain(NO_CREDENTIALS);
    expect(unknownFlag.output).toMatch(/unrecognized arguments: --lables/);
    expect(badValue.output).not.toContain(NO_CREDENTIALS);
  }, 60_000);
});

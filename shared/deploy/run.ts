/**
 * Carrying a plan out: `apply` (create-or-update, in order, stopping at the
 * first failure), `check` (what differs from the plan) and `destroy`
 * (remove what the plan created, in reverse). Each reads before it acts, so
 * running it twice changes nothing the second time and says so.
 */
import { commandName, renderCommand, type Command } from './command.js';
import { gcloudMessage, isNotFound, type Gcloud, type GcloudResult } from './gcloud.js';
import type { Plan, Step } from './step.js';

export interface RunOptions {
  gcloud: Gcloud;
  out: (line: string) => void;
  /** Waits between retries of a grant to a just-created account (IAM takes a while to see it). Default: setTimeout. */
  sleep?: (ms: number) => Promise<void>;
}

/** A step that could not be carried out: the command, and what gcloud said. */
export class StepFailure extends Error {
  override name = 'StepFailure';
  constructor(
    readonly step: Step,
    readonly command: Command,
    readonly result: GcloudResult,
  ) {
    super(`${step.title}: ${renderCommand(command)} failed (exit ${result.code})`);
  }
}

type State = { exists: false } | { exists: true; current: unknown };

async function readState(step: Step, gcloud: Gcloud): Promise<State> {
  const result = await gcloud(step.read);
  if (result.code === 0) {
    try {
      return { exists: true, current: result.stdout.trim() === '' ? {} : JSON.parse(result.stdout) };
    } catch {
      throw new StepFailure(step, step.read, {
        ...result,
        code: 1,
        stderr: `gcloud printed something that is not JSON:\n${result.stdout.slice(0, 500)}`,
      });
    }
  }
  if (isNotFound(result)) return { exists: false };
  throw new StepFailure(step, step.read, result);
}

/**
 * gcloud's words for "IAM does not see this account yet": the granted account named as missing, or refused as a
 * member. A missing secret or service is "not found" too, but waiting does not make it appear: not retried.
 */
function accountNotYetVisible(stderr: string, command: Command): boolean {
  const account = command.find((word) => word.startsWith('--member=serviceAccount:'))?.slice('--member=serviceAccount:'.length);
  return (
    /INVALID_ARGUMENT.*(?:member|service account)/i.test(stderr) ||
    (account !== undefined && stderr.includes(account) && /does not exist|not found/i.test(stderr))
  );
}

async function run(step: Step, command: Command, options: RunOptions, retryIam: boolean): Promise<void> {
  const sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    options.out(`      $ ${renderCommand(command)}`);
    const result = await options.gcloud(command);
    if (result.code === 0) return;
    // A service account created seconds ago (or a service agent of a just-enabled API) is not yet visible to IAM.
    const agent = command.some((word) => word.includes('@gcp-sa-'));
    if ((retryIam || agent) && attempt < 6 && command.includes('add-iam-policy-binding') && accountNotYetVisible(result.stderr, command)) {
      options.out(`      … IAM does not see the new account yet; trying again in 10 s (${attempt}/5)`);
      await sleep(10_000);
      continue;
    }
    throw new StepFailure(step, command, result);
  }
}

function describeFailure(error: StepFailure, index: number, total: number, out: (line: string) => void): void {
  out(`      ✗ failed: ${commandName(error.command)} (exit ${error.result.code})`);
  out(`      command: ${renderCommand(error.command)}`);
  out('      gcloud said:');
  for (const line of gcloudMessage(error.result).split('\n')) out(`        ${line}`);
  if (error.step.hint) out(`      hint: ${error.step.hint}`);
  out('');
  out(
    `Stopped at step ${index + 1} of ${total}${index > 0 ? `; steps 1-${index} are in place` : ''}. Fix the cause and run the same command again: steps already in place are skipped.`,
  );
}

export interface ApplySummary {
  created: number;
  updated: number;
  unchanged: number;
  /** Set when a step failed; the steps after it were not run. */
  failed?: StepFailure;
}

/** Creates or updates each step in order; stops at the first failure. */
export async function applyPlan(plan: Plan, options: RunOptions): Promise<ApplySummary> {
  const { out } = options;
  const summary: ApplySummary = { created: 0, updated: 0, unchanged: 0 };
  let createdAccount = false;
  const total = plan.steps.length;
  for (const [index, step] of plan.steps.entries()) {
    out(`[${index + 1}/${total}] ${step.title}`);
    try {
      const state = await readState(step, options.gcloud);
      const diffs = step.compare(state.exists ? state.current : undefined);
      if (diffs.length === 0) {
        out('      = unchanged');
        summary.unchanged++;
        continue;
      }
      const blocked = state.exists ? step.blocking?.(state.current) : undefined;
      if (blocked) throw new StepFailure(step, step.read, { code: 1, stdout: '', stderr: `run-relay: ${blocked}` });
      const commands = state.exists ? (step.update ?? step.create) : step.create;
      out(
        state.exists ? `      ~ updating: ${diffs.join('; ')}` : `      + creating${diffs[0] === 'missing' ? '' : `: ${diffs.join('; ')}`}`,
      );
      for (const command of commands) await run(step, command, options, createdAccount);
      if (step.id.startsWith('service account') && !state.exists) createdAccount = true;
      out(state.exists ? '      ✓ updated' : '      ✓ created');
      if (state.exists) summary.updated++;
      else summary.created++;
    } catch (error) {
      if (!(error instanceof StepFailure)) throw error;
      describeFailure(error, index, total, out);
      return { ...summary, failed: error };
    }
  }
  out('');
  out(
    summary.created + summary.updated === 0
      ? `Nothing to change: all ${total} steps were already in place.`
      : `Done: ${summary.created} created, ${summary.updated} updated, ${summary.unchanged} unchanged.`,
  );
  printManual(plan, out);
  return summary;
}

export interface CheckResult {
  /** Steps that differ from the plan, with the differences. */
  differences: { step: Step; diffs: string[] }[];
  /** Steps whose state could not be read. */
  unreadable: StepFailure[];
}

/** Compares what exists with the plan, changing nothing. */
export async function checkPlan(plan: Plan, options: RunOptions): Promise<CheckResult> {
  const { out } = options;
  const result: CheckResult = { differences: [], unreadable: [] };
  for (const step of plan.steps) {
    try {
      const state = await readState(step, options.gcloud);
      const diffs = step.compare(state.exists ? state.current : undefined);
      if (diffs.length === 0) {
        out(`  ✓ ${step.title}`);
      } else {
        out(`  ✗ ${step.title}: ${diffs.join('; ')}`);
        result.differences.push({ step, diffs });
      }
    } catch (error) {
      if (!(error instanceof StepFailure)) throw error;
      out(`  ? ${step.title}: cannot read it (${gcloudMessage(error.result, 2).replace(/\n/g, ' ')})`);
      result.unreadable.push(error);
    }
  }
  out('');
  out(
    result.differences.length + result.unreadable.length === 0
      ? `No drift: all ${plan.steps.length} steps match the plan.`
      : `${result.differences.length} of ${plan.steps.length} steps differ from the plan${result.unreadable.length ? `, ${result.unreadable.length} could not be read` : ''}. Run with --apply to bring them back.`,
  );
  printManual(plan, out);
  return result;
}

export interface DestroySummary {
  removed: number;
  kept: number;
  failed?: StepFailure;
}

/** The steps `--destroy` acts on, last created first. */
export function destroySteps(plan: Plan): Step[] {
  return plan.steps.filter((s) => s.destroy).reverse();
}

/** Removes what the plan created, in reverse; never target services, secrets' values or APIs. */
export async function destroyPlan(plan: Plan, options: RunOptions & { deleteDeadLetters?: boolean }): Promise<DestroySummary> {
  const { out } = options;
  const summary: DestroySummary = { removed: 0, kept: 0 };
  const steps = destroySteps(plan);
  for (const [index, step] of steps.entries()) {
    const destroy = step.destroy!;
    out(`[${index + 1}/${steps.length}] ${step.title}`);
    if (destroy.deadLetters && !options.deleteDeadLetters) {
      out('      = kept: it holds dead letters (add --delete-dead-letters to remove it too)');
      summary.kept++;
      continue;
    }
    try {
      const state = await readState(step, options.gcloud);
      if (!state.exists) {
        out('      = already gone');
        continue;
      }
      if (destroy.owned && !destroy.owned(state.current)) {
        if (destroy.notOwned === 'gone') {
          out('      = already gone');
        } else {
          out('      = kept: not created by this relay (no run-relay label naming it)');
          summary.kept++;
        }
        continue;
      }
      for (const command of destroy.commands) await run(step, command, options, false);
      out('      ✓ removed');
      summary.removed++;
    } catch (error) {
      if (!(error instanceof StepFailure)) throw error;
      describeFailure(error, index, steps.length, out);
      return { ...summary, failed: error };
    }
  }
  out('');
  out(`Removed ${summary.removed}, kept ${summary.kept}. Target services, secrets and their values, and enabled APIs are never touched.`);
  return summary;
}

function printManual(plan: Plan, out: (line: string) => void): void {
  if (plan.manual.length === 0) return;
  out('');
  out(`${plan.manual.length} step${plan.manual.length === 1 ? '' : 's'} deploy cannot do for you (run by hand):`);
  for (const step of plan.manual) {
    out(`  - ${step.title}`);
    out(`    ${step.why}`);
    out(`    $ ${renderCommand(step.command)}`);
  }
}

/**
 * `run-relay deploy --project P --region R [--apply | --check | --destroy]`:
 * the whole Google Cloud setup, derived from the config. Without a mode flag
 * it prints the plan and changes nothing.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { configPath, ConfigError, readConfigFile, validateConfig } from '../config/load.js';
import { renderCommand } from '../deploy/command.js';
import { gcloudBinary, gcloudMessage, missingLogin, type Gcloud } from '../deploy/gcloud.js';
import { planDeployment } from '../deploy/plan.js';
import { applyPlan, checkPlan, destroyPlan, destroySteps } from '../deploy/run.js';
import { isShipped, sourceHash } from '../deploy/source.js';
import type { Plan, Section } from '../deploy/step.js';
import { DeployError } from '../deploy/validate.js';
import { CliError, type Command } from './main.js';

const USAGE = `run-relay deploy --project P --region R [--project-number N] [--config FILE] [--source DIR]
                 [--apply | --check | --destroy [--apply] [--delete-dead-letters]] [--no-invoker-iam-check]

  (no mode)              print the plan; change nothing
  --apply                create or update every step, in order; stop at the first failure
  --check                compare what exists with the plan and list the differences
  --destroy              print what --destroy --apply removes; with --apply, remove it
  --delete-dead-letters  with --destroy: also remove the dead-letter topic and its inbox
  --no-invoker-iam-check for organizations that forbid allUsers: the webhook function's Cloud Run
                         service skips the IAM check instead (the relay's verification guards it)
  --project-number N     the project's number (default: asked of gcloud)
  --config FILE          default: $RELAY_CONFIG, else relay.config.yaml; must be inside --source
  --source DIR           the directory uploaded to Cloud Functions (default: the working directory)`;

export interface DeployDeps {
  gcloud?: Gcloud;
  cwd?: string;
  sleep?: (ms: number) => Promise<void>;
}

/** Builds the command; tests pass a fake gcloud and a working directory. */
export function deployCommand(deps: DeployDeps = {}): Command {
  return {
    summary: 'Print, apply, check or destroy the Google Cloud setup the config describes.',
    usage: USAGE,
    options: {
      project: { type: 'string' },
      region: { type: 'string' },
      'project-number': { type: 'string' },
      config: { type: 'string' },
      source: { type: 'string' },
      apply: { type: 'boolean' },
      check: { type: 'boolean' },
      destroy: { type: 'boolean' },
      'delete-dead-letters': { type: 'boolean' },
      'no-invoker-iam-check': { type: 'boolean' },
    },
    async run({ values, positionals, env, out }) {
      if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"`);
      const project = values.project as string | undefined;
      const region = values.region as string | undefined;
      if (!project || !region) throw new CliError('expected --project and --region');
      if (values.check && (values.apply || values.destroy)) throw new CliError('--check cannot be combined with --apply or --destroy');
      if (values['delete-dead-letters'] && !values.destroy) throw new CliError('--delete-dead-letters only goes with --destroy');
      const gcloud = deps.gcloud ?? gcloudBinary({ env });
      const cwd = deps.cwd ?? process.cwd();
      const source = resolve(cwd, (values.source as string | undefined) ?? '.');
      const file = values.config ? resolve(cwd, values.config as string) : configPath(env, cwd);
      const inSource = relative(source, file);
      if (inSource.startsWith('..') || isAbsolute(inSource)) {
        throw new CliError(
          `the config ${file} is outside the source directory ${source}; it ships with the source, so move it inside (or pass --source)`,
        );
      }
      const shippedPath = inSource.split(sep).join('/');
      if (!isShipped(source, shippedPath))
        throw new CliError(`the config ${shippedPath} is excluded by ${source}/.gcloudignore, so it would not ship with the functions`);

      let hash: string;
      try {
        hash = sourceHash(source);
      } catch (error) {
        throw new CliError((error as Error).message);
      }
      // --check, --apply and --destroy ask once whether gcloud has a login, before their many calls (each of which
      // would fail the same way, slowly): before the project-number lookup, else once the plan stands.
      const modes = Boolean(values.check || values.apply || values.destroy);
      const loggedIn = async () => {
        const login = modes ? await missingLogin(gcloud, env) : undefined;
        if (login) console.error(`run-relay deploy: ${login}`);
        return login === undefined;
      };
      let plan: Plan;
      try {
        const config = validateConfig(readConfigFile(file), file);
        if (values['project-number'] === undefined && !(await loggedIn())) return 1;
        const projectNumber = (values['project-number'] as string | undefined) ?? (await lookUpProjectNumber(gcloud, project));
        plan = planDeployment(config, {
          project,
          region,
          projectNumber,
          source: relative(cwd, source) || '.',
          configPath: shippedPath,
          sourceHash: hash,
          webhookAccess: values['no-invoker-iam-check'] ? 'no-invoker-iam-check' : 'public',
        });
      } catch (error) {
        if (error instanceof ConfigError || error instanceof DeployError) {
          console.error(error.message);
          out('Nothing was run.');
          return 2;
        }
        throw error;
      }
      if (values['project-number'] !== undefined && !(await loggedIn())) return 1;
      const options = { gcloud, out, ...(deps.sleep ? { sleep: deps.sleep } : {}) };
      const header = `project ${plan.project} (number ${plan.projectNumber}), region ${plan.region}, config ${shippedPath}`;
      if (values.destroy) {
        if (!values.apply) {
          printDestroyPlan(plan, out, header, Boolean(values['delete-dead-letters']));
          return 0;
        }
        out(`run-relay deploy --destroy: ${header}`);
        const summary = await destroyPlan(plan, { ...options, deleteDeadLetters: Boolean(values['delete-dead-letters']) });
        return summary.failed ? 1 : 0;
      }
      if (values.check) {
        out(`run-relay deploy --check: ${header}`);
        const result = await checkPlan(plan, options);
        return result.differences.length + result.unreadable.length === 0 ? 0 : 1;
      }
      if (values.apply) {
        out(`run-relay deploy --apply: ${header}`);
        for (const note of plan.notes) out(note);
        out('');
        const summary = await applyPlan(plan, options);
        return summary.failed ? 1 : 0;
      }
      printPlan(plan, out, header);
      return 0;
    },
  };
}

async function lookUpProjectNumber(gcloud: Gcloud, project: string): Promise<string> {
  const result = await gcloud(['projects', 'describe', project, '--format=value(projectNumber)']);
  const number = result.stdout.trim();
  if (result.code !== 0 || !/^\d+$/.test(number)) {
    throw new DeployError([
      {
        path: '--project-number',
        message: `could not read project ${project}'s number from gcloud (pass --project-number N):\n${gcloudMessage(result, 4)}`,
      },
    ]);
  }
  return number;
}

/** The plan as `deploy` prints it without --apply: every step with why, and the commands a first apply runs. */
export function printPlan(plan: Plan, out: (line: string) => void, header: string): void {
  out(`run-relay deploy plan: ${header}`);
  for (const note of plan.notes) out(note);
  let section: Section | undefined;
  for (const [index, step] of plan.steps.entries()) {
    if (step.section !== section) {
      section = step.section;
      out('');
      out(section);
    }
    out(`  ${index + 1}. ${step.title}`);
    out(`     ${step.why}`);
    for (const command of step.create) out(`     $ ${renderCommand(command)}`);
  }
  if (plan.manual.length > 0) {
    out('');
    out('By hand (deploy cannot do these for you)');
    for (const step of plan.manual) {
      out(`  - ${step.title}`);
      out(`     ${step.why}`);
      out(`     $ ${renderCommand(step.command)}`);
    }
  }
  out('');
  out('Nothing was changed. Each step is skipped when already in place; --apply carries the plan out, --check lists what differs.');
}

function printDestroyPlan(plan: Plan, out: (line: string) => void, header: string, deleteDeadLetters: boolean): void {
  out(`run-relay deploy --destroy plan: ${header}`);
  for (const [index, step] of destroySteps(plan).entries()) {
    const destroy = step.destroy!;
    if (destroy.deadLetters && !deleteDeadLetters) {
      out(`  ${index + 1}. keep ${step.title} (dead letters; --delete-dead-letters removes it)`);
      continue;
    }
    out(
      `  ${index + 1}. remove: ${step.title}${destroy.owned && destroy.notOwned !== 'gone' ? ' (only if it carries the run-relay label)' : ''}${destroy.warning ? `: ${destroy.warning}` : ''}`,
    );
    for (const command of destroy.commands) out(`     $ ${renderCommand(command)}`);
  }
  out('');
  out('Never removed: target services, secrets and their values, enabled APIs. Nothing was changed; add --apply to remove the above.');
}

/**
 * What makes a valid relay config undeployable: a target deploy cannot tie
 * to a Cloud Run service, a loopback target, a credential file, a secret
 * mapping that names nothing. Checked before any command runs; every
 * problem is reported at once, by key path.
 */
import type { RelayConfig } from '../config/schema.js';
import { isLoopbackHost } from '../config/schema.js';
import { secretRefsOf } from '../verify/registry.js';
import { renderCommand } from './command.js';
import { deployNames, schedulerJobName } from './names.js';
import { manualInvokerGrant, targetService } from './target-service.js';

export interface DeployIssue {
  path: string;
  message: string;
}

/** A config or an invocation that cannot be deployed; `issues` names each problem. */
export class DeployError extends Error {
  override name = 'DeployError';
  constructor(readonly issues: DeployIssue[]) {
    super(`Cannot deploy this config:\n${issues.map((i) => `  - ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n')}`);
  }
}

export const PROJECT_ID = /^[a-z][-a-z0-9]{4,28}[a-z0-9]$/;
export const REGION = /^[a-z]+-[a-z]+\d+$/;

/** Every environment variable the config's routes read a secret from, with the first key path naming it. */
export function secretEnvs(config: RelayConfig): Map<string, string> {
  const found = new Map<string, string>();
  for (const { env, path } of secretRefsOf(config.routes)) if (!found.has(env)) found.set(env, path);
  return found;
}

/** Checks `config` can be deployed to `project`/`region`; throws {@link DeployError} listing every problem. */
export function checkDeployable(config: RelayConfig, options: { project: string; projectNumber: string; region: string }): void {
  const issues: DeployIssue[] = [];
  if (!PROJECT_ID.test(options.project))
    issues.push({ path: '--project', message: `expected a project id (6-30 lower-case letters, digits or "-"), got "${options.project}"` });
  if (!/^\d{1,20}$/.test(options.projectNumber))
    issues.push({ path: '--project-number', message: `expected the project's number (digits only), got "${options.projectNumber}"` });
  if (!REGION.test(options.region))
    issues.push({ path: '--region', message: `expected a region such as us-central1, got "${options.region}"` });
  const runtime = deployNames(config, options.project).runtimeAccount;
  if (config.projectId !== undefined && config.projectId !== options.project) {
    issues.push({
      path: 'projectId',
      message: `is ${config.projectId}, but this deploys to ${options.project}: the functions would publish to the other project's topics (remove projectId or make them equal)`,
    });
  }

  for (const [name, target] of Object.entries(config.targets)) {
    const path = `targets.${name}`;
    const url = new URL(target.url);
    if (isLoopbackHost(url.hostname)) {
      issues.push({
        path: `${path}.url`,
        message: `${target.url} is this machine; a deployed relay cannot reach it (point the target at its Cloud Run URL)`,
      });
      continue;
    }
    if (target.identity?.credentialsFile) {
      issues.push({
        path: `${path}.identity.credentialsFile`,
        message:
          'a credential file is not deployed with the source; on Cloud Functions the relay uses its runtime service account (use identity.impersonate to call as another account)',
      });
    }
    const found = targetService(target, options.project);
    if (found.kind === 'unknown') {
      const caller = target.identity?.impersonate ?? runtime;
      const grant = manualInvokerGrant(caller);
      issues.push({
        path: `${path}.url`,
        message:
          `cannot tell which Cloud Run service this is: ${found.why}. Name it in the config, ` +
          `\`${path}.cloudRun: { service: SERVICE, region: REGION, project: PROJECT }\`, or grant the access yourself and say ` +
          `\`${path}.cloudRun: manual\`; the grant to run by hand is: ${renderCommand(grant)}`,
      });
    }
  }

  const used = secretEnvs(config);
  for (const env of Object.keys(config.deploy.secrets)) {
    if (!used.has(env)) {
      issues.push({
        path: `deploy.secrets.${env}`,
        message: `no route reads a secret from ${env}; expected one of: ${[...used.keys()].join(', ') || '(no route uses a secret)'}`,
      });
    }
  }

  const jobs = new Map<string, string>();
  for (const name of Object.keys(config.schedules)) {
    const job = schedulerJobName(config, name);
    const other = jobs.get(job);
    if (other)
      issues.push({
        path: `schedules.${name}`,
        message: `its Cloud Scheduler job would be named ${job}, like schedule "${other}"'s; rename one`,
      });
    jobs.set(job, name);
  }
  if (issues.length > 0) throw new DeployError(issues);
}

/**
 * Which Cloud Run service a target is, for granting `roles/run.invoker` on
 * it alone: named in the config (`cloudRun:`), read from a deterministic
 * URL (`https://SERVICE-PROJECTNUMBER.REGION.run.app`), or left to the
 * operator (`cloudRun: manual`).
 */
import type { TargetConfig } from '../config/schema.js';
import type { Command } from './command.js';

export interface CloudRunService {
  service: string;
  region: string;
  /** Project id or number. */
  project: string;
  /** How it was found, for the plan's wording. */
  from: 'config' | 'url';
}

export type TargetService = { kind: 'service'; service: CloudRunService } | { kind: 'manual' } | { kind: 'unknown'; why: string };

const DETERMINISTIC = /^([a-z](?:[-a-z0-9]*[a-z0-9])?)-(\d{6,})\.([a-z]+-[a-z]+\d+)\.run\.app$/;

/** Reads service, project number and region out of a deterministic Cloud Run URL; undefined for any other URL. */
export function parseRunUrl(url: string): Omit<CloudRunService, 'from'> | undefined {
  if (!URL.canParse(url)) return undefined;
  const parsed = new URL(url);
  if (parsed.protocol !== 'https:') return undefined;
  const match = DETERMINISTIC.exec(parsed.hostname);
  if (!match) return undefined;
  return { service: match[1]!, project: match[2]!, region: match[3]! };
}

/** Decides which Cloud Run service `target` is; `project` is the project deployed to (the default for `cloudRun.project`). */
export function targetService(target: TargetConfig, project: string): TargetService {
  if (target.cloudRun === 'manual') return { kind: 'manual' };
  if (target.cloudRun)
    return { kind: 'service', service: { ...target.cloudRun, project: target.cloudRun.project ?? project, from: 'config' } };
  const fromUrl = parseRunUrl(target.url);
  if (fromUrl) return { kind: 'service', service: { ...fromUrl, from: 'url' } };
  const host = URL.canParse(target.url) ? new URL(target.url).hostname : target.url;
  const why = host.endsWith('.a.run.app')
    ? `${host} is a Cloud Run URL of the hashed form, which does not say the service, region or project`
    : `${host} is not a Cloud Run URL of the form SERVICE-PROJECTNUMBER.REGION.run.app`;
  return { kind: 'unknown', why };
}

/** The invoker grant an operator runs by hand for a service deploy cannot name: PROJECT, REGION and SERVICE to fill in. */
export function manualInvokerGrant(account: string): Command {
  return [
    'run',
    'services',
    'add-iam-policy-binding',
    'projects/PROJECT/locations/REGION/services/SERVICE',
    `--member=serviceAccount:${account}`,
    '--role=roles/run.invoker',
  ];
}

/** The `--project`-free resource name gcloud accepts for a service in any project, by id or number. */
export function serviceResource(s: Pick<CloudRunService, 'service' | 'region' | 'project'>): string {
  return `projects/${s.project}/locations/${s.region}/services/${s.service}`;
}

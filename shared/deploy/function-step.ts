/**
 * The step deploying one gen2 function. Deploying builds the source, which
 * takes minutes, so the step compares first: a function whose settings and
 * source hash (kept in a label) already match is left alone.
 */
import type { FunctionSettings } from './deploy-schema.js';
import { SOURCE_LABEL } from './names.js';
import { ownedBy, type Json, type Step } from './step.js';

export interface FunctionSpec {
  project: string;
  region: string;
  name: string;
  entryPoint: 'webhook' | 'pubsub';
  source: string;
  sourceHash: string;
  serviceAccount: string;
  /** `--allow-unauthenticated` when true; else `--no-allow-unauthenticated`. */
  public: boolean;
  settings: FunctionSettings;
  timeoutSeconds: number;
  env: Record<string, string>;
  /** Variables of the build (`gcp-build`), as `--set-build-env-vars` takes them. */
  buildEnv: Record<string, string>;
  /** `ENV=secret:version` (or `ENV=projects/P/secrets/S:version`), as `--set-secrets` takes them. */
  secrets: string[];
  /** The owner label, `run-relay=<name>`. */
  label: string;
  why: string;
}

export const RUNTIME = 'nodejs22';

/** Env vars the platform adds to every gen2 function: not drift. */
const PLATFORM_ENV = new Set(['LOG_EXECUTION_ID']);

/**
 * Variables as one value of `--set-env-vars` / `--set-build-env-vars`. gcloud splits it on ","; a leading "^;^"
 * makes ";" the separator when a value holds a comma.
 */
function envVarsValue(vars: Record<string, string>): string {
  const pairs = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
  return pairs.some((pair) => pair.includes(',')) ? `^;^${pairs.join(';')}` : pairs.join(',');
}

export function functionStep(spec: FunctionSpec): Step {
  const { settings } = spec;
  const scope = ['--gen2', `--region=${spec.region}`, `--project=${spec.project}`];
  const env = envVarsValue(spec.env);
  const buildEnv = envVarsValue(spec.buildEnv);
  const deploy = [
    'functions',
    'deploy',
    spec.name,
    ...scope,
    `--runtime=${RUNTIME}`,
    `--source=${spec.source}`,
    `--entry-point=${spec.entryPoint}`,
    '--trigger-http',
    spec.public ? '--allow-unauthenticated' : '--no-allow-unauthenticated',
    `--service-account=${spec.serviceAccount}`,
    `--memory=${settings.memory}`,
    `--cpu=${settings.cpu}`,
    `--concurrency=${settings.concurrency}`,
    `--timeout=${spec.timeoutSeconds}s`,
    `--min-instances=${settings.minInstances}`,
    `--max-instances=${settings.maxInstances}`,
    '--ingress-settings=all',
    `--set-env-vars=${env}`,
    ...(buildEnv !== '' ? [`--set-build-env-vars=${buildEnv}`] : ['--clear-build-env-vars']),
    spec.secrets.length > 0 ? `--set-secrets=${spec.secrets.join(',')}` : '--clear-secrets',
    `--update-labels=${spec.label},${SOURCE_LABEL}=${spec.sourceHash}`,
    '--quiet',
  ];
  return {
    id: `function ${spec.name}`,
    section: 'Functions',
    title: `Function ${spec.name} (gen2, ${RUNTIME}, entry point ${spec.entryPoint}, runs as ${spec.serviceAccount})`,
    why: spec.why,
    read: ['functions', 'describe', spec.name, ...scope, '--format=json'],
    compare: (current) => (current === undefined ? ['missing'] : functionDiffs(current as Json, spec)),
    create: [deploy],
    destroy: {
      commands: [['functions', 'delete', spec.name, ...scope, '--quiet']],
      owned: ownedBy(spec.label),
    },
  };
}

/** What differs between a described function and the spec, in words. */
export function functionDiffs(c: Json, spec: FunctionSpec): string[] {
  const diffs: string[] = [];
  const want = (what: string, actual: unknown, wanted: unknown) => {
    if (String(actual ?? '') !== String(wanted ?? ''))
      diffs.push(`${what} is ${actual === undefined || actual === '' ? '(unset)' : String(actual)}, want ${String(wanted)}`);
  };
  const service = c.serviceConfig ?? {};
  if (c.state !== undefined && c.state !== 'ACTIVE') diffs.push(`state is ${c.state}`);
  want('source hash', c.labels?.[SOURCE_LABEL], spec.sourceHash);
  want('runtime', c.buildConfig?.runtime, RUNTIME);
  want('entry point', c.buildConfig?.entryPoint, spec.entryPoint);
  if (c.eventTrigger) diffs.push("it has an event trigger; the relay's functions are HTTP-triggered");
  want('service account', service.serviceAccountEmail, spec.serviceAccount);
  want('memory', service.availableMemory, spec.settings.memory);
  want('cpu', service.availableCpu, spec.settings.cpu);
  want('concurrency', service.maxInstanceRequestConcurrency, spec.settings.concurrency);
  want('timeout (s)', service.timeoutSeconds, spec.timeoutSeconds);
  want('min instances', service.minInstanceCount ?? 0, spec.settings.minInstances);
  want('max instances', service.maxInstanceCount, spec.settings.maxInstances);
  want('ingress', service.ingressSettings, 'ALLOW_ALL');
  const actualBuildEnv = { ...(c.buildConfig?.environmentVariables ?? {}) } as Record<string, string>;
  for (const [key, value] of Object.entries(spec.buildEnv)) want(`build env ${key}`, actualBuildEnv[key], value);
  for (const key of Object.keys(actualBuildEnv)) if (!(key in spec.buildEnv)) diffs.push(`build env ${key} is set, want it unset`);
  const actualEnv = { ...(service.environmentVariables ?? {}) } as Record<string, string>;
  for (const key of PLATFORM_ENV) delete actualEnv[key];
  for (const [key, value] of Object.entries(spec.env)) want(`env ${key}`, actualEnv[key], value);
  for (const key of Object.keys(actualEnv)) if (!(key in spec.env)) diffs.push(`env ${key} is set, want it unset`);
  const actualSecrets = ((service.secretEnvironmentVariables ?? []) as Json[]).map((s) => `${s.key}=${s.secret}:${s.version}`).sort();
  const wantedSecrets = spec.secrets.map((s) => s.replace(/=projects\/[^/]+\/secrets\//, '=')).sort();
  if (actualSecrets.join(',') !== wantedSecrets.join(','))
    diffs.push(`secrets are ${actualSecrets.join(', ') || '(none)'}, want ${wantedSecrets.join(', ') || '(none)'}`);
  return diffs;
}

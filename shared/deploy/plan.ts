/**
 * Derives the whole Google Cloud setup from a relay config: the ordered
 * steps `run-relay deploy` prints, applies, checks and destroys. Pure: no
 * command runs here.
 */
import type { RelayConfig } from '../config/schema.js';
import { envelopeMessage } from '../envelope.js';
import { schedulerJobEnvelope } from '../schedule/schedule.js';
import type { Command } from './command.js';
import { functionStep, type FunctionSpec } from './function-step.js';
import { secretSteps, targetAccessSteps } from './access-steps.js';
import { deployNames, functionUrl, OWNER_LABEL, schedulerJobName } from './names.js';
import { pushSteps, topicSteps } from './pubsub-steps.js';
import { apisStep, schedulerJobStep, serviceAccountStep, webhookAccessStep } from './resource-steps.js';
import type { ManualStep, Plan, PlanContext, Step } from './step.js';
import { checkDeployable } from './validate.js';
import { dedupeSteps, usesDedupeStore } from './dedupe-steps.js';

export interface PlanOptions {
  project: string;
  projectNumber: string;
  region: string;
  /** Directory gcloud uploads (`--source`), as it is printed. Default `.`. */
  source?: string;
  /** The config's path inside `source`: the functions read it from there (RELAY_CONFIG). */
  configPath: string;
  /** Hash of the files shipped; a function deployed from the same hash and settings is left alone. */
  sourceHash: string;
  /** `public` (default): `allUsers` may invoke the webhook function. `no-invoker-iam-check`: for organizations that forbid `allUsers`. */
  webhookAccess?: 'public' | 'no-invoker-iam-check';
}

/** True when anything in the config travels over Pub/Sub (async routes, mapped topics, schedules). */
export function usesPubSub(config: RelayConfig): boolean {
  return (
    Object.values(config.routes).some((r) => r.mode === 'async') ||
    Object.keys(config.topics).length > 0 ||
    Object.keys(config.schedules).length > 0
  );
}

/** Builds the plan; throws DeployError (before anything runs) when the config cannot be deployed. */
export function planDeployment(config: RelayConfig, options: PlanOptions): Plan {
  const { project, projectNumber, region } = options;
  checkDeployable(config, options);
  const names = deployNames(config, project);
  const label = `${OWNER_LABEL}=${config.deploy.name}`;
  const { deliveryTopic, deliveryDeadlineMs } = config.pubsub;
  const ackDeadline = Math.min(600, Math.ceil(deliveryDeadlineMs / 1000) + 30);
  const ctx: PlanContext = {
    project,
    projectNumber,
    region,
    names,
    label,
    runtimeMember: `serviceAccount:${names.runtimeAccount}`,
    pubsubServiceAgent: `serviceAccount:service-${projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com`,
    ackDeadline,
  };
  const pubsub = usesPubSub(config);
  const secretPart = secretSteps(config, ctx);
  const steps: Step[] = [];
  const manual: ManualStep[] = [];
  const notes: string[] = [];

  const apis = ['cloudfunctions', 'run', 'cloudbuild', 'artifactregistry', 'iam'];
  if (Object.values(config.targets).some((t) => t.identity?.impersonate)) apis.push('iamcredentials');
  if (secretPart.flags.length > 0) apis.push('secretmanager');
  if (pubsub) apis.push('pubsub');
  if (Object.keys(config.schedules).length > 0) apis.push('cloudscheduler');
  const dedupe = usesDedupeStore(config);
  if (dedupe) apis.push('firestore');
  steps.push(
    apisStep(
      project,
      apis.map((a) => `${a}.googleapis.com`),
    ),
  );

  steps.push(
    serviceAccountStep(
      project,
      config.deploy.name,
      'run-relay runtime',
      'The identity both functions run as. It holds no project-wide role: only the grants below.',
    ),
  );
  if (pubsub) {
    steps.push(
      serviceAccountStep(
        project,
        `${config.deploy.name}-push`,
        'run-relay push',
        'The identity Pub/Sub pushes to the pubsub function with; it can invoke that function and nothing else.',
      ),
    );
  }

  const access = targetAccessSteps(config, ctx);
  steps.push(...access.steps);
  manual.push(...access.manual);

  steps.push(...secretPart.steps);

  if (pubsub) {
    steps.push(...topicSteps(config, ctx));
  }
  if (dedupe) steps.push(...dedupeSteps(config, ctx));

  const maxRouteDeadline = Math.max(30_000, ...Object.values(config.routes).map((r) => r.deadlineMs));
  const environment = (fn: FunctionSpec['settings']) => ({
    RELAY_CONFIG: options.configPath,
    GOOGLE_CLOUD_PROJECT: project,
    // Half the memory for V8's heap: the relay stays well inside its limit under load (see README, Operations).
    NODE_OPTIONS: `--max-old-space-size=${Math.floor(memoryMiB(fn.memory) / 2)}`,
  });
  // The code cache the build makes is taken by V8 only under the flags the function runs with (deploy/code-cache.ts).
  const buildEnvironment = (fn: FunctionSpec['settings']) => ({ RELAY_CODE_CACHE_NODE_OPTIONS: environment(fn).NODE_OPTIONS });
  const common = {
    project,
    region,
    source: options.source ?? '.',
    sourceHash: options.sourceHash,
    serviceAccount: names.runtimeAccount,
    secrets: secretPart.flags,
    label,
  };
  const webhookUrl = functionUrl(names.webhookFunction, projectNumber, region);
  const webhookTimeout = config.deploy.webhook.timeoutSeconds ?? Math.min(3600, Math.max(60, Math.ceil(maxRouteDeadline / 1000) + 10));
  steps.push(
    functionStep({
      ...common,
      name: names.webhookFunction,
      entryPoint: 'webhook',
      public: options.webhookAccess !== 'no-invoker-iam-check',
      settings: config.deploy.webhook,
      timeoutSeconds: webhookTimeout,
      env: environment(config.deploy.webhook),
      buildEnv: buildEnvironment(config.deploy.webhook),
      why: `Receives the senders' webhooks at ${webhookUrl}/ROUTE. Public because senders cannot authenticate to Google; each route's verify scheme is what guards it.`,
    }),
  );
  steps.push(webhookAccessStep(project, region, names.webhookFunction, options.webhookAccess ?? 'public'));
  notes.push(`Webhook URL: ${webhookUrl}/ROUTE (routes: ${Object.keys(config.routes).join(', ') || 'none'})`);

  if (pubsub) {
    steps.push(
      functionStep({
        ...common,
        name: names.pubsubFunction,
        entryPoint: 'pubsub',
        public: false,
        settings: config.deploy.pubsub,
        timeoutSeconds: config.deploy.pubsub.timeoutSeconds ?? ackDeadline,
        env: environment(config.deploy.pubsub),
        buildEnv: buildEnvironment(config.deploy.pubsub),
        why: "Delivers envelopes and mapped topics' messages. Not public: only the push subscriptions below, as the push account, may invoke it.",
      }),
    );
    steps.push(...pushSteps(config, ctx));
    notes.push(
      `Pub/Sub: ack deadline ${ackDeadline} s, redelivery after ${config.deploy.minRetryDelaySeconds}-${config.deploy.maxRetryDelaySeconds} s, dead-lettered after ${config.deploy.maxDeliveryAttempts} attempts`,
    );
  }

  notes.push(...concurrencyNotes(config, pubsub));

  for (const name of Object.keys(config.schedules)) {
    const schedule = config.schedules[name]!;
    const message = envelopeMessage(schedulerJobEnvelope(config, name));
    steps.push(
      schedulerJobStep({
        project,
        region,
        name: schedulerJobName(config, name),
        cron: schedule.cron,
        timeZone: schedule.timeZone,
        topic: deliveryTopic,
        body: message.data.toString('utf8'),
        attributes: message.attributes,
        description: `run-relay schedule ${name} (${config.deploy.name})`,
        why: `schedules.${name}: at "${schedule.cron}" (${schedule.timeZone}) publishes the envelope; the pubsub function calls ${schedule.route ? `route ${schedule.route}'s targets` : schedule.forward!.map((f) => f.target).join(', ')}.`,
      }),
    );
  }

  return { project, projectNumber, region, steps, manual, notes };
}

/** `maxConcurrency` is per instance: the bound across the deployment is the cap times each function's maxInstances. */
function concurrencyNotes(config: RelayConfig, pubsub: boolean): string[] {
  const notes: string[] = [];
  for (const [name, target] of Object.entries(config.targets)) {
    const cap = target.maxConcurrency;
    if (cap === undefined) continue;
    const parts = [`webhook ${cap} × ${config.deploy.webhook.maxInstances} instances`];
    let bound = cap * config.deploy.webhook.maxInstances;
    if (pubsub) {
      parts.push(`pubsub ${cap} × ${config.deploy.pubsub.maxInstances} instances`);
      bound += cap * config.deploy.pubsub.maxInstances;
    }
    notes.push(`Target ${name}: maxConcurrency ${cap} per instance; at most ${bound} calls in flight in all (${parts.join(' + ')})`);
  }
  return notes;
}

function memoryMiB(memory: string): number {
  const amount = Number.parseInt(memory, 10);
  return memory.endsWith('Gi') ? amount * 1024 : amount;
}

/** Every command a plan can run (reads, creates, updates, removals and manual steps), for checking them all. */
export function allCommands(plan: Plan): Command[] {
  return [
    ...plan.steps.flatMap((s) => [s.read, ...s.create, ...(s.update ?? []), ...(s.destroy?.commands ?? [])]),
    ...plan.manual.map((m) => m.command),
  ];
}

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
import { deployNames, functionUrl, OWNER_LABEL, schedulerJobName, topicSubscriptionName } from './names.js';
import { bindingStep, type ManualStep, type Plan, type Step } from './step.js';
import { apisStep, schedulerJobStep, serviceAccountStep, subscriptionStep, topicStep, webhookAccessStep } from './resource-steps.js';
import { serviceResource, targetService } from './target-service.js';
import { checkDeployable, secretEnvs } from './validate.js';

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

const INVOKER = 'roles/run.invoker';

/** True when anything in the config travels over Pub/Sub (async routes, mapped topics, schedules). */
export function usesPubSub(config: RelayConfig): boolean {
  return Object.values(config.routes).some((r) => r.mode === 'async') || Object.keys(config.topics).length > 0 || Object.keys(config.schedules).length > 0;
}

/** Builds the plan; throws DeployError (before anything runs) when the config cannot be deployed. */
export function planDeployment(config: RelayConfig, options: PlanOptions): Plan {
  const { project, projectNumber, region } = options;
  checkDeployable(config, options);
  const names = deployNames(config, project);
  const label = `${OWNER_LABEL}=${config.deploy.name}`;
  const p = `--project=${project}`;
  const runtimeMember = `serviceAccount:${names.runtimeAccount}`;
  const pubsub = usesPubSub(config);
  const secrets = secretEnvs(config);
  const steps: Step[] = [];
  const manual: ManualStep[] = [];
  const notes: string[] = [];

  const apis = ['cloudfunctions', 'run', 'cloudbuild', 'artifactregistry', 'iam'];
  if (Object.values(config.targets).some((t) => t.identity?.impersonate)) apis.push('iamcredentials');
  if (secrets.size > 0) apis.push('secretmanager');
  if (pubsub) apis.push('pubsub');
  if (Object.keys(config.schedules).length > 0) apis.push('cloudscheduler');
  steps.push(apisStep(project, apis.map((a) => `${a}.googleapis.com`)));

  steps.push(
    serviceAccountStep(project, config.deploy.name, 'run-relay runtime', 'The identity both functions run as. It holds no project-wide role: only the grants below.'),
  );
  if (pubsub) {
    steps.push(
      serviceAccountStep(project, `${config.deploy.name}-push`, 'run-relay push', 'The identity Pub/Sub pushes to the pubsub function with; it can invoke that function and nothing else.'),
    );
  }

  // Invoker on each target service only; through an impersonated account, that account calls the target.
  for (const [name, target] of Object.entries(config.targets)) {
    const found = targetService(target, project);
    const caller = target.identity?.impersonate;
    const member = `serviceAccount:${caller ?? names.runtimeAccount}`;
    if (caller) {
      steps.push(
        bindingStep({
          id: `impersonate ${caller} for ${name}`,
          section: 'Target access',
          title: `The runtime account may mint ID tokens as ${caller}`,
          why: `targets.${name}.identity.impersonate: the relay asks IAM Credentials for ${caller}'s ID tokens (iam.serviceAccounts.getOpenIdToken on that account only).`,
          group: ['iam', 'service-accounts'],
          resource: [caller, `--project=${accountProject(caller, project)}`],
          role: 'roles/iam.serviceAccountOpenIdTokenCreator',
          member: runtimeMember,
        }),
      );
    }
    if (found.kind === 'manual') {
      manual.push({
        id: `invoker ${name}`,
        title: `Let ${caller ?? 'the runtime account'} invoke target "${name}" (${target.url})`,
        why: `targets.${name}.cloudRun is manual: deploy does not know which Cloud Run service this is. Fill in PROJECT (id or number), REGION and SERVICE.`,
        command: ['run', 'services', 'add-iam-policy-binding', 'projects/PROJECT/locations/REGION/services/SERVICE', `--member=${member}`, `--role=${INVOKER}`],
      });
      continue;
    }
    if (found.kind !== 'service') continue; // checkDeployable has refused it
    const s = found.service;
    steps.push(
      bindingStep({
        id: `invoker ${name}`,
        section: 'Target access',
        title: `${caller ?? 'The runtime account'} may invoke Cloud Run service ${s.service} (target "${name}")`,
        why: `The relay calls ${target.url} with an ID token for ${caller ?? 'its runtime account'}; Cloud Run lets it in only with ${INVOKER} on this service (${s.from === 'url' ? 'service, region and project read from the URL' : `targets.${name}.cloudRun`}).`,
        group: ['run', 'services'],
        resource: [serviceResource(s)],
        role: INVOKER,
        member,
      }),
    );
  }

  const secretFlags: string[] = [];
  // One grant per secret, however many variables mount versions of it.
  const bySecret = new Map<string, { secret: string; secretProject: string; uses: string[] }>();
  for (const [env, path] of secrets) {
    const ref = config.deploy.secrets[env] ?? env;
    const [id, version = 'latest'] = ref.split(':') as [string, string?];
    const match = /^projects\/([^/]+)\/secrets\/(.+)$/.exec(id);
    const secretProject = match ? match[1]! : project;
    const secret = match ? match[2]! : id;
    secretFlags.push(`${env}=${match ? id : secret}:${version}`);
    const key = `${secretProject}/${secret}`;
    const entry = bySecret.get(key) ?? { secret, secretProject, uses: [] };
    entry.uses.push(`${env} (${path}, version ${version})`);
    bySecret.set(key, entry);
  }
  for (const { secret, secretProject, uses } of bySecret.values()) {
    steps.push({
      ...bindingStep({
        id: `secret ${secretProject}/${secret}`,
        section: 'Secrets',
        title: `The runtime account may read secret ${secret}${secretProject === project ? '' : ` in ${secretProject}`}`,
        why: `Mounted in both functions as ${uses.join(', ')}. The secret's value is yours to set: deploy never reads or writes it.`,
        group: ['secrets'],
        resource: [secret, `--project=${secretProject}`],
        role: 'roles/secretmanager.secretAccessor',
        member: runtimeMember,
      }),
      hint: `the secret must exist before deploy grants access to it: printf %s "$VALUE" | gcloud secrets create ${secret} --project=${secretProject} --replication-policy=automatic --data-file=-`,
    });
  }

  const { deliveryTopic, deadLetterTopic, deadLetterSubscription, deliveryDeadlineMs } = config.pubsub;
  const ackDeadline = Math.min(600, Math.ceil(deliveryDeadlineMs / 1000) + 30);
  const pubsubServiceAgent = `serviceAccount:service-${projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com`;
  if (pubsub) {
    steps.push(topicStep(project, deliveryTopic, label, 'Async routes, fan-out, schedules and replays publish envelopes here; the pubsub function delivers them.'));
    steps.push(topicStep(project, deadLetterTopic, label, 'Messages that cannot be delivered are parked here, by the relay or by Pub/Sub after the last attempt.'));
    steps.at(-1)!.destroy!.deadLetters = true;
    for (const topic of Object.keys(config.topics)) {
      steps.push(topicStep(project, topic, label, `topics.${topic}: its messages are relayed to ${config.topics[topic]!.forward.map((f) => f.target).join(', ')}. Created when missing; an existing topic is used as it is and --destroy leaves it.`));
    }
    // Before anything can dead-letter: a topic without a subscription drops what is published to it.
    steps.push(
      subscriptionStep({
        project,
        name: deadLetterSubscription,
        topic: deadLetterTopic,
        label,
        why: 'Holds parked messages for `npm run relay -- dlq list|show|replay`; never expires, keeps messages 7 days.',
        ackDeadline: 60,
      }),
    );
    steps.at(-1)!.destroy!.deadLetters = true;
    for (const topic of [deliveryTopic, deadLetterTopic]) {
      steps.push(
        bindingStep({
          id: `publisher ${topic}`,
          section: 'Topics',
          title: `The runtime account may publish to ${topic}`,
          why: topic === deliveryTopic ? 'The webhook function publishes async events here; the pubsub function publishes fan-out envelopes.' : 'The pubsub function parks undeliverable messages here.',
          group: ['pubsub', 'topics'],
          resource: [topic, p],
          role: 'roles/pubsub.publisher',
          member: runtimeMember,
        }),
      );
    }
    steps.push(
      bindingStep({
        id: `dead-letter publisher ${deadLetterTopic}`,
        section: 'Topics',
        title: `Pub/Sub's service agent may publish to ${deadLetterTopic}`,
        why: 'Dead-lettering: after the last delivery attempt Pub/Sub itself moves the message here, as its service agent.',
        group: ['pubsub', 'topics'],
        resource: [deadLetterTopic, p],
        role: 'roles/pubsub.publisher',
        member: pubsubServiceAgent,
      }),
    );
  }

  const maxRouteDeadline = Math.max(30_000, ...Object.values(config.routes).map((r) => r.deadlineMs));
  const environment = (fn: FunctionSpec['settings']) => ({
    RELAY_CONFIG: options.configPath,
    GOOGLE_CLOUD_PROJECT: project,
    // Half the memory for V8's heap: the relay stays well inside its limit under load (see README, Operations).
    NODE_OPTIONS: `--max-old-space-size=${Math.floor(memoryMiB(fn.memory) / 2)}`,
  });
  const common = { project, region, source: options.source ?? '.', sourceHash: options.sourceHash, serviceAccount: names.runtimeAccount, secrets: secretFlags, label };
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
      why: `Receives the senders' webhooks at ${webhookUrl}/ROUTE. Public because senders cannot authenticate to Google; each route's verify scheme is what guards it.`,
    }),
  );
  steps.push(webhookAccessStep(project, region, names.webhookFunction, options.webhookAccess ?? 'public'));
  notes.push(`Webhook URL: ${webhookUrl}/ROUTE (routes: ${Object.keys(config.routes).join(', ') || 'none'})`);

  if (pubsub) {
    const pubsubUrl = functionUrl(names.pubsubFunction, projectNumber, region);
    steps.push(
      functionStep({
        ...common,
        name: names.pubsubFunction,
        entryPoint: 'pubsub',
        public: false,
        settings: config.deploy.pubsub,
        timeoutSeconds: config.deploy.pubsub.timeoutSeconds ?? ackDeadline,
        env: environment(config.deploy.pubsub),
        why: 'Delivers envelopes and mapped topics\' messages. Not public: only the push subscriptions below, as the push account, may invoke it.',
      }),
    );
    steps.push(
      bindingStep({
        id: `invoker ${names.pubsubFunction}`,
        section: 'Functions',
        title: `The push account may invoke ${names.pubsubFunction}`,
        why: 'Pub/Sub pushes with an ID token for the push account; that account can invoke this function and nothing else.',
        group: ['run', 'services'],
        resource: [names.pubsubFunction, `--region=${region}`, p],
        role: INVOKER,
        member: `serviceAccount:${names.pushAccount}`,
      }),
    );
    steps.push(
      bindingStep({
        id: `token creator ${names.pushAccount}`,
        section: 'Delivery',
        title: `Pub/Sub's service agent may sign push tokens as ${names.pushAccount}`,
        why: 'Authenticated push: Pub/Sub mints the push account\'s ID token for each push (needed on projects created before April 2021; harmless after). On this account only.',
        group: ['iam', 'service-accounts'],
        resource: [names.pushAccount, p],
        role: 'roles/iam.serviceAccountTokenCreator',
        member: pubsubServiceAgent,
      }),
    );
    const feeds: { subscription: string; topic: string; why: string }[] = [
      { subscription: names.deliverySubscription, topic: deliveryTopic, why: 'Pushes envelopes to the pubsub function with the relay\'s retry, ack deadline and dead-letter policy.' },
      ...Object.keys(config.topics).map((topic) => ({
        subscription: topicSubscriptionName(config, topic),
        topic,
        why: `Pushes topics.${topic}'s messages to the pubsub function with the same policies.`,
      })),
    ];
    for (const feed of feeds) {
      steps.push(
        subscriptionStep({
          project,
          name: feed.subscription,
          topic: feed.topic,
          label,
          why: feed.why,
          ackDeadline,
          push: {
            endpoint: `${pubsubUrl}/projects/${project}/topics/${feed.topic}`,
            audience: pubsubUrl,
            account: names.pushAccount,
            deadLetterTopic,
            maxDeliveryAttempts: config.deploy.maxDeliveryAttempts,
            minRetryDelay: config.deploy.minRetryDelaySeconds,
            maxRetryDelay: config.deploy.maxRetryDelaySeconds,
          },
        }),
      );
      steps.push(
        bindingStep({
          id: `dead-letter subscriber ${feed.subscription}`,
          section: 'Delivery',
          title: `Pub/Sub's service agent may forward dead letters from ${feed.subscription}`,
          why: 'Dead-lettering also needs the service agent to acknowledge the message on its source subscription.',
          group: ['pubsub', 'subscriptions'],
          resource: [feed.subscription, p],
          role: 'roles/pubsub.subscriber',
          member: pubsubServiceAgent,
        }),
      );
    }
    notes.push(`Pub/Sub: ack deadline ${ackDeadline} s, redelivery after ${config.deploy.minRetryDelaySeconds}-${config.deploy.maxRetryDelaySeconds} s, dead-lettered after ${config.deploy.maxDeliveryAttempts} attempts`);
  }

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

/** The project of `name@PROJECT.iam.gserviceaccount.com`; other accounts (default compute, ...) are looked up in `fallback`. */
function accountProject(email: string, fallback: string): string {
  return /^[^@]+@([a-z][-a-z0-9]+)\.iam\.gserviceaccount\.com$/.exec(email)?.[1] ?? fallback;
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

/**
 * Steps for the plain resources a deployment owns: APIs, service accounts,
 * topics, subscriptions, the webhook's public access and scheduler jobs.
 * Each reads the resource as JSON and compares only what the plan sets.
 */
import { bindingStep, ownedBy, type Json, type Step } from './step.js';

/** `gcloud services enable` for every API not yet enabled. Never undone: other things may use them. */
export function apisStep(project: string, apis: string[]): Step {
  return {
    id: 'apis',
    section: 'APIs',
    title: `APIs enabled: ${apis.join(', ')}`,
    why: 'Cloud Functions builds with Cloud Build into Artifact Registry and runs on Cloud Run; the rest are what the config uses.',
    read: ['services', 'list', '--enabled', `--project=${project}`, '--format=json'],
    compare: (current) => {
      const enabled = new Set(
        ((current as Json[] | undefined) ?? []).map(
          (s) =>
            s?.config?.name ??
            String(s?.name ?? '')
              .split('/')
              .pop(),
        ),
      );
      const missing = apis.filter((a) => !enabled.has(a));
      return missing.length > 0 ? [`not enabled: ${missing.join(', ')}`] : [];
    },
    create: [['services', 'enable', ...apis, `--project=${project}`]],
  };
}

/** A service account `id@project.iam.gserviceaccount.com` with no role of its own. */
export function serviceAccountStep(project: string, id: string, displayName: string, why: string): Step {
  const email = `${id}@${project}.iam.gserviceaccount.com`;
  return {
    id: `service account ${id}`,
    section: 'Identity',
    title: `Service account ${email}`,
    why,
    read: ['iam', 'service-accounts', 'describe', email, `--project=${project}`, '--format=json'],
    compare: (current) => (current === undefined ? ['missing'] : (current as Json).disabled ? ['disabled'] : []),
    create: [
      [
        'iam',
        'service-accounts',
        'create',
        id,
        `--project=${project}`,
        `--display-name=${displayName}`,
        '--description=Created by run-relay deploy',
      ],
    ],
    update: [['iam', 'service-accounts', 'enable', email, `--project=${project}`]],
    destroy: { commands: [['iam', 'service-accounts', 'delete', email, `--project=${project}`, '--quiet']] },
  };
}

/** A topic; one that already exists is used as is, and `--destroy` removes only topics carrying the relay's label. */
export function topicStep(project: string, topic: string, label: string, why: string): Step {
  return {
    id: `topic ${topic}`,
    section: 'Topics',
    title: `Topic ${topic}`,
    why,
    read: ['pubsub', 'topics', 'describe', topic, `--project=${project}`, '--format=json'],
    compare: (current) => (current === undefined ? ['missing'] : []),
    create: [['pubsub', 'topics', 'create', topic, `--project=${project}`, `--labels=${label}`]],
    destroy: {
      commands: [['pubsub', 'topics', 'delete', topic, `--project=${project}`, '--quiet']],
      owned: ownedBy(label),
    },
  };
}

export interface SubscriptionSpec {
  project: string;
  name: string;
  topic: string;
  label: string;
  why: string;
  ackDeadline: number;
  /** Absent: a pull subscription. */
  push?: {
    endpoint: string;
    audience: string;
    account: string;
    deadLetterTopic: string;
    maxDeliveryAttempts: number;
    minRetryDelay: number;
    maxRetryDelay: number;
  };
}

const seconds = (value: unknown): number | undefined =>
  typeof value === 'string' && /^\d+(\.\d+)?s$/.test(value) ? Number.parseFloat(value) : undefined;

/** A subscription owned by the relay, never expiring; push ones carry the relay's retry and dead-letter policy. */
export function subscriptionStep(spec: SubscriptionSpec): Step {
  const { project, name, topic, push } = spec;
  const p = `--project=${project}`;
  const policy = push
    ? [
        `--push-endpoint=${push.endpoint}`,
        `--push-auth-service-account=${push.account}`,
        `--push-auth-token-audience=${push.audience}`,
        `--ack-deadline=${spec.ackDeadline}`,
        `--min-retry-delay=${push.minRetryDelay}s`,
        `--max-retry-delay=${push.maxRetryDelay}s`,
        `--dead-letter-topic=${push.deadLetterTopic}`,
        `--max-delivery-attempts=${push.maxDeliveryAttempts}`,
        '--expiration-period=never',
      ]
    : [`--ack-deadline=${spec.ackDeadline}`, '--message-retention-duration=7d', '--expiration-period=never'];
  const topicPath = `projects/${project}/topics/${topic}`;
  return {
    id: `subscription ${name}`,
    section: push ? 'Delivery' : 'Topics',
    title: push ? `Push subscription ${name} (${topic} → ${push.endpoint})` : `Pull subscription ${name} on ${topic}`,
    why: spec.why,
    read: ['pubsub', 'subscriptions', 'describe', name, p, '--format=json'],
    compare: (current) => {
      if (current === undefined) return ['missing'];
      const c = current as Json;
      const diffs: string[] = [];
      const want = (what: string, actual: unknown, wanted: unknown) => {
        if (actual !== wanted)
          diffs.push(`${what} is ${actual === undefined || actual === '' ? '(unset)' : String(actual)}, want ${String(wanted)}`);
      };
      want('topic', c.topic, topicPath);
      want('ack deadline', c.ackDeadlineSeconds, spec.ackDeadline);
      want('expiration', c.expirationPolicy?.ttl, undefined);
      if (push) {
        want('push endpoint', c.pushConfig?.pushEndpoint, push.endpoint);
        want('push account', c.pushConfig?.oidcToken?.serviceAccountEmail, push.account);
        want('push audience', c.pushConfig?.oidcToken?.audience, push.audience);
        want('minimum backoff (s)', seconds(c.retryPolicy?.minimumBackoff), push.minRetryDelay);
        want('maximum backoff (s)', seconds(c.retryPolicy?.maximumBackoff), push.maxRetryDelay);
        want('dead-letter topic', c.deadLetterPolicy?.deadLetterTopic, `projects/${project}/topics/${push.deadLetterTopic}`);
        want('max delivery attempts', c.deadLetterPolicy?.maxDeliveryAttempts, push.maxDeliveryAttempts);
      } else {
        want('push endpoint', c.pushConfig?.pushEndpoint || undefined, undefined);
      }
      return diffs;
    },
    blocking: (current) =>
      (current as Json).topic !== topicPath
        ? `subscription ${name} exists on ${(current as Json).topic}, not ${topicPath}; a subscription cannot change topic: delete it (gcloud pubsub subscriptions delete ${name} ${p}) or rename it, then apply again`
        : !push && (current as Json).pushConfig?.pushEndpoint
          ? `subscription ${name} is a push subscription; the dlq commands need a pull subscription: delete it or set pubsub.deadLetterSubscription to another name`
          : undefined,
    create: [['pubsub', 'subscriptions', 'create', name, `--topic=${topic}`, p, ...policy, `--labels=${spec.label}`]],
    update: [['pubsub', 'subscriptions', 'update', name, p, ...policy.filter((f) => !f.startsWith('--message-retention'))]],
    destroy: {
      commands: [['pubsub', 'subscriptions', 'delete', name, p, '--quiet']],
      owned: ownedBy(spec.label),
      warning: push
        ? 'messages not yet delivered are dropped with it'
        : 'parked messages still in it are lost: replay or read them first (npm run relay -- dlq list)',
    },
  };
}

/** `allUsers` may invoke the webhook function, or (`no-invoker-iam-check`) Cloud Run skips the IAM check on it. */
export function webhookAccessStep(project: string, region: string, service: string, access: 'public' | 'no-invoker-iam-check'): Step {
  const scope = [service, `--region=${region}`, `--project=${project}`];
  if (access === 'public') {
    return bindingStep({
      id: `public ${service}`,
      section: 'Functions',
      title: `Anyone may call ${service} (allUsers holds roles/run.invoker on it)`,
      why: 'Webhook senders cannot present Google credentials; the relay verifies each request itself (signatures, timestamps, contracts).',
      group: ['run', 'services'],
      resource: scope,
      role: 'roles/run.invoker',
      member: 'allUsers',
    });
  }
  return {
    id: `public ${service}`,
    section: 'Functions',
    title: `Cloud Run's invoker IAM check is off on ${service}`,
    why: "For organizations whose policy forbids allUsers (domain-restricted sharing): the service accepts requests without Google credentials, and the relay's own verification guards every route.",
    read: ['run', 'services', 'describe', ...scope, '--format=json'],
    compare: (current) => {
      const annotations = ((current as Json | undefined)?.metadata?.annotations ?? {}) as Record<string, string>;
      return annotations['run.googleapis.com/invoker-iam-disabled'] === 'true' ? [] : ['the invoker IAM check is on'];
    },
    create: [['run', 'services', 'update', ...scope, '--no-invoker-iam-check', '--quiet']],
  };
}

export interface JobSpec {
  project: string;
  region: string;
  name: string;
  cron: string;
  timeZone: string;
  topic: string;
  body: string;
  attributes: Record<string, string>;
  description: string;
  why: string;
}

/** A Cloud Scheduler job publishing a fixed envelope to the delivery topic. */
export function schedulerJobStep(spec: JobSpec): Step {
  const scope = [`--location=${spec.region}`, `--project=${spec.project}`];
  const attributes = Object.entries(spec.attributes)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const settings = [`--schedule=${spec.cron}`, `--time-zone=${spec.timeZone}`, `--topic=${spec.topic}`, `--message-body=${spec.body}`];
  return {
    id: `job ${spec.name}`,
    section: 'Schedules',
    title: `Cloud Scheduler job ${spec.name}`,
    why: spec.why,
    read: ['scheduler', 'jobs', 'describe', spec.name, ...scope, '--format=json'],
    compare: (current) => {
      if (current === undefined) return ['missing'];
      const c = current as Json;
      const diffs: string[] = [];
      if (c.schedule !== spec.cron) diffs.push(`schedule is ${c.schedule}, want ${spec.cron}`);
      if (c.timeZone !== spec.timeZone) diffs.push(`time zone is ${c.timeZone}, want ${spec.timeZone}`);
      const target = c.pubsubTarget ?? {};
      if (target.topicName !== `projects/${spec.project}/topics/${spec.topic}`)
        diffs.push(`topic is ${target.topicName ?? '(none)'}, want projects/${spec.project}/topics/${spec.topic}`);
      const data = typeof target.data === 'string' ? Buffer.from(target.data, 'base64').toString('utf8') : undefined;
      if (data !== spec.body) diffs.push('the published envelope differs');
      if (JSON.stringify(sorted(target.attributes ?? {})) !== JSON.stringify(sorted(spec.attributes)))
        diffs.push('the message attributes differ');
      return diffs;
    },
    create: [
      [
        'scheduler',
        'jobs',
        'create',
        'pubsub',
        spec.name,
        ...scope,
        ...settings,
        `--attributes=${attributes}`,
        `--description=${spec.description}`,
      ],
    ],
    // A paused job stays paused: pausing is the operator's call.
    update: [['scheduler', 'jobs', 'update', 'pubsub', spec.name, ...scope, ...settings, `--update-attributes=${attributes}`]],
    destroy: { commands: [['scheduler', 'jobs', 'delete', spec.name, ...scope, '--quiet']] },
  };
}

function sorted(record: Record<string, string>): [string, string][] {
  return Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
}

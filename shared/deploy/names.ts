/**
 * The names of what `run-relay deploy` creates, derived from `deploy.name`
 * (default `run-relay`). The functions use `topicSubscriptionName` too, to
 * recognise the push subscriptions deploy made for mapped topics.
 */
import type { RelayConfig } from '../config/schema.js';

/** The label every resource deploy creates carries (`run-relay=<deploy.name>`), so `--destroy` removes only those. */
export const OWNER_LABEL = 'run-relay';
/** The label holding the hash of the source a function was deployed from. */
export const SOURCE_LABEL = 'run-relay-source';

export interface DeployNames {
  runtimeAccount: string;
  pushAccount: string;
  webhookFunction: string;
  pubsubFunction: string;
  deliverySubscription: string;
}

/** Emails and names for `config.deploy.name` in `project`. */
export function deployNames(config: Pick<RelayConfig, 'deploy'>, project: string): DeployNames {
  const name = config.deploy.name;
  return {
    runtimeAccount: `${name}@${project}.iam.gserviceaccount.com`,
    pushAccount: `${name}-push@${project}.iam.gserviceaccount.com`,
    webhookFunction: `${name}-webhook`,
    pubsubFunction: `${name}-pubsub`,
    deliverySubscription: `${name}-deliveries`,
  };
}

/** The push subscription that feeds mapped topic `topic` to the `pubsub` function: the first one the config lists, else `<deploy.name>-topic-<topic>`. */
export function topicSubscriptionName(config: Pick<RelayConfig, 'deploy' | 'topics'>, topic: string): string {
  return config.topics[topic]?.subscriptions[0] ?? `${config.deploy.name}-topic-${topic}`;
}

/** The Cloud Scheduler job of schedule `schedule` (job ids allow no "."). */
export function schedulerJobName(config: Pick<RelayConfig, 'deploy'>, schedule: string): string {
  return `${config.deploy.name}-${schedule.replace(/\./g, '-')}`;
}

/** A function's deterministic Cloud Run URL (its underlying service's). */
export function functionUrl(functionName: string, projectNumber: string, region: string): string {
  return `https://${functionName}-${projectNumber}.${region}.run.app`;
}

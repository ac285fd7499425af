/**
 * Creates the relay's topics and subscriptions when they are missing: used
 * by the local stack, the dead-letter CLI and tests (deployment creates them
 * with gcloud/Terraform in production).
 */
import type { PubSub } from '@google-cloud/pubsub';

/** Creates `name` unless it exists. */
export async function ensureTopic(pubsub: PubSub, name: string): Promise<void> {
  const [exists] = await pubsub.topic(name).exists();
  if (!exists) await ignoreAlreadyExists(pubsub.createTopic(name));
}

export interface SubscriptionSpec {
  topic: string;
  name: string;
  /** Push endpoint; a pull subscription when absent. For the `pubsub` function use `<base>/projects/P/topics/T`. */
  pushEndpoint?: string;
  ackDeadlineSeconds?: number;
  /** Redelivery backoff bounds, seconds; without either, Pub/Sub redelivers at once. */
  minBackoffSeconds?: number;
  maxBackoffSeconds?: number;
}

/**
 * Creates a subscription (and its topic) unless it exists. An existing push
 * subscription whose endpoint differs from `spec.pushEndpoint` is pointed at
 * the new endpoint (e.g. `npm start` restarted on another port, or a shared
 * emulator reused by another run), so messages never go to a dead URL.
 */
export async function ensureSubscription(pubsub: PubSub, spec: SubscriptionSpec): Promise<void> {
  await ensureTopic(pubsub, spec.topic);
  const subscription = pubsub.subscription(spec.name);
  const [exists] = await subscription.exists();
  if (exists) {
    if (spec.pushEndpoint) {
      const [metadata] = await subscription.getMetadata();
      if (metadata.pushConfig?.pushEndpoint !== spec.pushEndpoint) await subscription.modifyPushConfig({ pushEndpoint: spec.pushEndpoint });
    }
    return;
  }
  await ignoreAlreadyExists(
    pubsub.topic(spec.topic).createSubscription(spec.name, {
      ackDeadlineSeconds: spec.ackDeadlineSeconds ?? 60,
      ...(spec.pushEndpoint ? { pushConfig: { pushEndpoint: spec.pushEndpoint } } : {}),
      // Pull subscriptions read by operators get no backoff: a message they release is pullable again at once.
      ...(spec.minBackoffSeconds !== undefined || spec.maxBackoffSeconds !== undefined
        ? {
            retryPolicy: {
              minimumBackoff: { seconds: spec.minBackoffSeconds ?? 10 },
              maximumBackoff: { seconds: spec.maxBackoffSeconds ?? 600 },
            },
          }
        : {}),
    }),
  );
}

async function ignoreAlreadyExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (error) {
    if ((error as { code?: number }).code !== 6) throw error; // 6 = ALREADY_EXISTS
  }
}

/** The push endpoint the Functions Framework turns into a messagePublished CloudEvent for `topic`. */
export function pushEndpointFor(functionUrl: string, projectId: string, topic: string): string {
  return `${functionUrl.replace(/\/+$/, '')}/projects/${projectId}/topics/${topic}`;
}

/**
 * Publishing to Pub/Sub behind a two-method interface, so the core takes a
 * publisher as a parameter. The real one loads `@google-cloud/pubsub` (and
 * gRPC) on first use only: the webhook path's cold start never pays for it.
 * It talks to the emulator when PUBSUB_EMULATOR_HOST is set.
 */
import type { PubSub, Topic } from '@google-cloud/pubsub';

export interface OutgoingMessage {
  data: Buffer;
  attributes?: Record<string, string>;
}

export interface Publisher {
  /** Resolves with the message id once Pub/Sub has stored the message. */
  publish(topic: string, message: OutgoingMessage): Promise<string>;
  close(): Promise<void>;
}

export interface PubSubOptions {
  projectId?: string;
  env?: NodeJS.ProcessEnv;
}

/** Creates a `PubSub` client, importing the library on demand. */
export async function openPubSub(options: PubSubOptions = {}): Promise<PubSub> {
  const env = options.env ?? process.env;
  const { PubSub } = await import('@google-cloud/pubsub');
  const projectId = options.projectId ?? env.GOOGLE_CLOUD_PROJECT ?? env.GCLOUD_PROJECT;
  return new PubSub(projectId ? { projectId } : {});
}

/**
 * The real publisher. Batches for at most `maxDelayMs` (default 5 ms) so a
 * burst of webhooks shares round trips without making any one wait long.
 */
export function pubSubPublisher(options: PubSubOptions & { maxDelayMs?: number } = {}): Publisher {
  let client: Promise<PubSub> | undefined;
  const topics = new Map<string, Topic>();
  const topicOf = async (name: string) => {
    client ??= openPubSub(options);
    const pubsub = await client;
    let topic = topics.get(name);
    if (!topic) {
      topic = pubsub.topic(name, { batching: { maxMessages: 100, maxMilliseconds: options.maxDelayMs ?? 5 } });
      topics.set(name, topic);
    }
    return topic;
  };
  return {
    async publish(topic, message) {
      return (await topicOf(topic)).publishMessage({ data: message.data, attributes: message.attributes ?? {} });
    },
    async close() {
      if (!client) return;
      const pubsub = await client;
      await Promise.allSettled([...topics.values()].map((t) => t.flush()));
      await pubsub.close();
      client = undefined;
      topics.clear();
    },
  };
}

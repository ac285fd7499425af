/**
 * Publishing to Pub/Sub behind a two-method interface, so the core takes a
 * publisher as a parameter. The real one loads `@google-cloud/pubsub` (and
 * gRPC) on first use only: the webhook path's cold start never pays for it.
 * It talks to the emulator when `emulatorHost` is set (the runtime passes
 * PUBSUB_EMULATOR_HOST through its settings).
 */
import type { PubSub, Topic } from '@google-cloud/pubsub';
import type { Settings } from '../settings.js';

export interface OutgoingMessage {
  data: Buffer;
  attributes?: Record<string, string>;
}

export interface PublishOptions {
  /** A tighter bound than the publisher's own for this publish (e.g. what is left of a route's deadline). */
  timeoutMs?: number;
}

export interface Publisher {
  /** Resolves with the message id once Pub/Sub has stored the message. */
  publish(topic: string, message: OutgoingMessage, options?: PublishOptions): Promise<string>;
  close(): Promise<void>;
}

export interface PubSubOptions {
  /** Default: the client library's own discovery (ADC). Callers pass `config.projectId ?? settings.projectId`. */
  projectId?: string;
  /** `host:port` of the Pub/Sub emulator (`settings.pubsubEmulatorHost`); default Google's endpoint. */
  emulatorHost?: string;
}

/** The Pub/Sub options that follow from a config's `projectId` and the parsed settings. */
export function pubSubOptionsOf(
  configProjectId: string | undefined,
  settings: Pick<Settings, 'projectId' | 'pubsubEmulatorHost'>,
): PubSubOptions {
  const projectId = configProjectId ?? settings.projectId;
  return { ...(projectId ? { projectId } : {}), ...(settings.pubsubEmulatorHost ? { emulatorHost: settings.pubsubEmulatorHost } : {}) };
}

/**
 * Creates a `PubSub` client, importing the library on demand. With
 * `emulatorHost` it talks to the emulator and never looks for
 * credentials or the metadata server (so it prints no MetadataLookupWarning);
 * pass `projectId` so it need not look that up either.
 */
export async function openPubSub(options: PubSubOptions = {}): Promise<PubSub> {
  const { PubSub } = await import('@google-cloud/pubsub');
  const emulator = options.emulatorHost
    ? {
        apiEndpoint: options.emulatorHost,
        emulatorMode: true,
        // gax asks the auth client for its universe before every stub; without one given, that means
        // looking for credentials, probing the metadata server and printing a MetadataLookupWarning.
        universeDomain: 'googleapis.com',
        clientOptions: { universeDomain: 'googleapis.com' },
      }
    : {};
  return new PubSub({ ...(options.projectId ? { projectId: options.projectId } : {}), ...emulator });
}

/** Default bound on one publish, retries included (the client's own default retries for up to 600 s). */
export const DEFAULT_PUBLISH_TIMEOUT_MS = 10_000;

export interface PublisherOptions extends PubSubOptions {
  /** Longest a message waits for batch-mates; default 5 ms. */
  maxDelayMs?: number;
  /** Bound on one publish, retries included; default {@link DEFAULT_PUBLISH_TIMEOUT_MS}. Past it the publish rejects. */
  timeoutMs?: number;
  /** Opens the client; default {@link openPubSub}. A failed open is not remembered: the next publish tries again. */
  open?: (options: PubSubOptions) => Promise<PubSub>;
}

/**
 * The real publisher. Batches for at most `maxDelayMs` (default 5 ms) so a
 * burst of webhooks shares round trips without making any one wait long.
 * Each publish fails after `timeoutMs` (default 10 s) at most, so an async
 * webhook answers 503 in bounded time when Pub/Sub is unhealthy.
 */
export function pubSubPublisher(options: PublisherOptions = {}): Publisher {
  const timeoutMs = options.timeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS;
  const open = options.open ?? openPubSub;
  let client: Promise<PubSub> | undefined;
  const topics = new Map<string, Topic>();
  const topicOf = async (name: string) => {
    if (!client) {
      const opening = open(options);
      client = opening;
      // Forget a failed open, so the next publish tries again instead of failing forever.
      opening.catch(() => {
        if (client === opening) client = undefined;
      });
    }
    const pubsub = await client;
    let topic = topics.get(name);
    if (!topic) {
      topic = pubsub.topic(name, {
        batching: { maxMessages: 100, maxMilliseconds: options.maxDelayMs ?? 5 },
        // `timeout` caps gax's total retry time for the publish RPC.
        gaxOpts: { timeout: timeoutMs },
      });
      topics.set(name, topic);
    }
    return topic;
  };
  return {
    async publish(topic, message, publishOptions) {
      // The gax timeout bounds the RPC; this bounds everything else too (opening the client, credentials, batching).
      const bound = publishOptions?.timeoutMs === undefined ? timeoutMs + 1000 : Math.min(timeoutMs + 1000, publishOptions.timeoutMs);
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Publish to ${topic} did not complete within ${bound} ms`)), bound);
        timer.unref();
      });
      try {
        return await Promise.race([
          topicOf(topic).then((t) => t.publishMessage({ data: message.data, attributes: message.attributes ?? {} })),
          expired,
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      if (!client) return;
      const pubsub = await client.catch(() => undefined);
      client = undefined;
      if (!pubsub) return;
      await Promise.allSettled([...topics.values()].map((t) => t.flush()));
      await pubsub.close();
      client = undefined;
      topics.clear();
    },
  };
}

/**
 * Synchronous pull from one subscription, for operator commands (the
 * dead-letter CLI) and tests: pull a batch, then ack, release or hold each
 * message explicitly. Loads `@google-cloud/pubsub` on demand.
 */
import type { PubSub } from '@google-cloud/pubsub';

export interface PulledMessage {
  ackId: string;
  messageId: string;
  data: Buffer;
  attributes: Record<string, string>;
  publishTime?: Date;
}

export interface Puller {
  /** Pulls up to `max` messages; an empty list means none are waiting right now. Held for `ackDeadlineSeconds`. */
  pull(max?: number): Promise<PulledMessage[]>;
  ack(ackIds: string[]): Promise<void>;
  /** Gives messages back at once (ack deadline 0), for someone else to pull. */
  release(ackIds: string[]): Promise<void>;
  close(): Promise<void>;
}

/** Opens a puller on `subscription` (short name) of the client's project. */
export async function openPuller(pubsub: PubSub, subscription: string): Promise<Puller> {
  const { v1 } = await import('@google-cloud/pubsub');
  const config = await pubsub.getClientConfig();
  const client = new v1.SubscriberClient({ ...config, port: config.port === undefined ? undefined : Number(config.port) });
  const projectId = pubsub.projectId;
  const name = `projects/${projectId}/subscriptions/${subscription}`;
  return {
    async pull(max = 100) {
      const [response] = await client.pull({ subscription: name, maxMessages: max, returnImmediately: true }, { timeout: 10_000 });
      return (response.receivedMessages ?? []).flatMap((m) => {
        const msg = m.message;
        if (!m.ackId || !msg?.messageId) return [];
        const seconds = Number(msg.publishTime?.seconds ?? 0);
        return [
          {
            ackId: m.ackId,
            messageId: msg.messageId,
            data: Buffer.from(msg.data ?? new Uint8Array()),
            attributes: { ...(msg.attributes ?? {}) },
            publishTime: msg.publishTime ? new Date(seconds * 1000 + Math.floor((msg.publishTime.nanos ?? 0) / 1e6)) : undefined,
          },
        ];
      });
    },
    async ack(ackIds) {
      if (ackIds.length > 0) await client.acknowledge({ subscription: name, ackIds });
    },
    async release(ackIds) {
      if (ackIds.length > 0) await client.modifyAckDeadline({ subscription: name, ackIds, ackDeadlineSeconds: 0 });
    },
    async close() {
      await client.close();
    },
  };
}

/**
 * Pulls until a pull comes back empty, holding everything pulled (nothing is
 * acked or released here). `limit` caps the total.
 */
export async function pullAll(puller: Puller, limit = 10_000): Promise<PulledMessage[]> {
  const all: PulledMessage[] = [];
  const seen = new Set<string>();
  for (let emptyPulls = 0; all.length < limit && emptyPulls < 2;) {
    const batch = await puller.pull(Math.min(1000, limit - all.length));
    const fresh = batch.filter((m) => !seen.has(m.messageId));
    if (fresh.length === 0) emptyPulls++;
    else emptyPulls = 0;
    for (const m of fresh) {
      seen.add(m.messageId);
      all.push(m);
    }
  }
  return all;
}

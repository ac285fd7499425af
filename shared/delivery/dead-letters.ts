/**
 * Operating the dead-letter topic: list what is parked, show one, replay
 * some or all back into delivery. Works on a pull subscription of the
 * dead-letter topic. Replay publishes a message, and only after Pub/Sub has
 * stored the copy acks the parked one; everything not selected (or whose
 * publish failed) is released untouched, so replay never duplicates a
 * message it did not move.
 */
import { envelopeSchema } from '../envelope.js';
import type { Publisher } from '../pubsub/publisher.js';
import { pullAll, type PulledMessage, type Puller } from '../pubsub/pull.js';
import { readDeadLetter, replayAttributes, type DeadLetterInfo } from './dead-letter.js';

export interface ParkedMessage extends DeadLetterInfo {
  /** The dead-letter copy's own message id (what `show` and `replay` take). */
  id: string;
  ageMs: number;
  idempotencyKey?: string;
  data: Buffer;
  attributes: Record<string, string>;
}

function describe(m: PulledMessage, now: number): ParkedMessage {
  const info = readDeadLetter(m.attributes);
  let idempotencyKey = m.attributes['relay-idempotency-key'];
  if (!idempotencyKey) {
    try {
      idempotencyKey = envelopeSchema.safeParse(JSON.parse(m.data.toString('utf8'))).data?.idempotencyKey;
    } catch {
      /* not an envelope */
    }
  }
  const parkedAt = Date.parse(info.at) || m.publishTime?.getTime() || now;
  return { ...info, id: m.messageId, ageMs: Math.max(0, now - parkedAt), idempotencyKey, data: m.data, attributes: m.attributes };
}

export interface ListOptions {
  limit?: number;
  now?: () => number;
}

/** Everything parked (up to `limit`, default 1000), oldest first; nothing is removed. */
export async function listDeadLetters(puller: Puller, options: ListOptions = {}): Promise<ParkedMessage[]> {
  const pulled = await pullAll(puller, options.limit ?? 1000);
  await puller.release(pulled.map((m) => m.ackId));
  const now = (options.now ?? Date.now)();
  return pulled.map((m) => describe(m, now)).sort((a, b) => b.ageMs - a.ageMs);
}

export interface ReplayOptions {
  /** Dead-letter message ids to replay; ignored when `all`. */
  ids?: readonly string[];
  all?: boolean;
  /** Topic for messages that do not name one; the delivery topic. */
  defaultTopic: string;
  limit?: number;
  now?: () => number;
}

export interface ReplayResult {
  replayed: { id: string; topic: string; newMessageId: string }[];
  failed: { id: string; error: string }[];
  /** Requested ids that were not found parked. */
  missing: string[];
  /** Parked messages left alone. */
  kept: number;
}

/** Moves the selected parked messages back to their topic; see the module comment for the guarantees. */
export async function replayDeadLetters(puller: Puller, publisher: Publisher, options: ReplayOptions): Promise<ReplayResult> {
  const wanted = new Set(options.ids ?? []);
  const pulled = await pullAll(puller, options.limit ?? 10_000);
  const selected = pulled.filter((m) => options.all || wanted.has(m.messageId));
  const others = pulled.filter((m) => !selected.includes(m));
  await puller.release(others.map((m) => m.ackId));
  const result: ReplayResult = { replayed: [], failed: [], missing: [...wanted].filter((id) => !pulled.some((m) => m.messageId === id)), kept: others.length };
  const now = new Date((options.now ?? Date.now)());
  for (const m of selected) {
    const topic = readDeadLetter(m.attributes).replayTopic || options.defaultTopic;
    try {
      const newMessageId = await publisher.publish(topic, { data: m.data, attributes: replayAttributes(m.attributes, now) });
      await puller.ack([m.ackId]);
      result.replayed.push({ id: m.messageId, topic, newMessageId });
    } catch (error) {
      await puller.release([m.ackId]).catch(() => {});
      result.failed.push({ id: m.messageId, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return result;
}

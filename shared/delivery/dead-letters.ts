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
  /**
   * The dead-letter copy's own message id: the `deadLetterId` of the
   * "Message dead-lettered" log line, what `list` shows and `show` / `replay`
   * take (they also accept the original message id, `messageId`).
   */
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
      idempotencyKey = envelopeSchema().safeParse(JSON.parse(m.data.toString('utf8'))).data?.idempotencyKey;
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

/** True when `id` names this parked message: its own id, or the id of the message it was parked for. */
export function isParkedAs(p: { id: string; messageId: string }, id: string): boolean {
  return p.id === id || (p.messageId !== '' && p.messageId === id);
}

/** Everything parked (up to `limit`, default 1000), oldest first; nothing is removed. */
export async function listDeadLetters(puller: Puller, options: ListOptions = {}): Promise<ParkedMessage[]> {
  const pulled = await pullAll(puller, options.limit ?? 1000);
  await puller.release(pulled.map((m) => m.ackId));
  const now = (options.now ?? Date.now)();
  return pulled.map((m) => describe(m, now)).sort((a, b) => b.ageMs - a.ageMs);
}

export interface ReplayOptions {
  /** Ids to replay (a parked copy's own id, or the original message id); ignored when `all`. */
  ids?: readonly string[];
  all?: boolean;
  /** Topic for messages that do not name one; the delivery topic. */
  defaultTopic: string;
  /** Most parked messages looked at in all; default 10,000. */
  limit?: number;
  /** Messages pulled, replayed and acked per round, well within the subscription's ack deadline; default 100. */
  batchSize?: number;
  now?: () => number;
}

export interface ReplayResult {
  replayed: { id: string; topic: string; newMessageId: string }[];
  failed: { id: string; error: string }[];
  /**
   * Published again, but the parked copy could not be acked: it stays parked
   * (or comes back) although its new copy went out. Do not replay these again.
   */
  notAcked: { id: string; topic: string; newMessageId: string; error: string }[];
  /** Requested ids that were not found parked. */
  missing: string[];
  /** Parked messages left alone (those parked before the replay began; a replayed message parked again is not counted). */
  kept: number;
}

/** True for a message parked at or after `since` (by this replay's own redeliveries, say). */
function parkedSince(m: PulledMessage, since: Date): boolean {
  const at = Date.parse(readDeadLetter(m.attributes).at) || m.publishTime?.getTime() || 0;
  return at >= since.getTime();
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Moves the selected parked messages back to their topic; see the module
 * comment for the guarantees. Works in rounds of `batchSize`: pull, publish
 * the selected ones, ack those Pub/Sub stored, then pull again; so every ack
 * is sent long before the ack deadline of the message it acks. Messages left
 * parked are held (so they are not pulled twice) and released at the end.
 */
export async function replayDeadLetters(puller: Puller, publisher: Publisher, options: ReplayOptions): Promise<ReplayResult> {
  const wanted = new Set(options.ids ?? []);
  const limit = options.limit ?? 10_000;
  const batchSize = options.batchSize ?? 100;
  const result: ReplayResult = { replayed: [], failed: [], notAcked: [], missing: [], kept: 0 };
  const now = new Date((options.now ?? Date.now)());
  const seen = new Set<string>();
  /** Requested ids already replayed (by either of a message's ids). */
  const found = new Set<string>();
  const hold: string[] = [];
  try {
    for (let emptyPulls = 0; seen.size < limit && emptyPulls < 2;) {
      const batch = await puller.pull(Math.min(batchSize, limit - seen.size));
      const fresh: PulledMessage[] = [];
      for (const m of batch) {
        if (seen.has(m.messageId))
          hold.push(m.ackId); // held past its deadline and delivered again: still left parked
        else {
          seen.add(m.messageId);
          fresh.push(m);
        }
      }
      emptyPulls = fresh.length === 0 ? emptyPulls + 1 : 0;
      const selected = fresh.filter((m) => {
        if (options.all) return !parkedSince(m, now);
        const source = readDeadLetter(m.attributes).messageId;
        const name = wanted.has(m.messageId) ? m.messageId : source !== '' && wanted.has(source) ? source : undefined;
        if (name === undefined || found.has(name)) return false;
        found.add(name);
        return true;
      });
      for (const m of fresh) if (!selected.includes(m)) hold.push(m.ackId);
      // A replayed message that fails again is parked anew while this runs: not one that was "left parked".
      result.kept += fresh.filter((m) => !selected.includes(m) && !parkedSince(m, now)).length;
      const published = await Promise.all(
        selected.map(async (m) => {
          const topic = readDeadLetter(m.attributes).replayTopic || options.defaultTopic;
          try {
            return {
              m,
              topic,
              newMessageId: await publisher.publish(topic, { data: m.data, attributes: replayAttributes(m.attributes, now) }),
            };
          } catch (error) {
            hold.push(m.ackId);
            result.failed.push({ id: m.messageId, error: message(error) });
            return undefined;
          }
        }),
      );
      const stored = published.filter((p) => p !== undefined);
      try {
        await puller.ack(stored.map((p) => p.m.ackId));
        for (const p of stored) result.replayed.push({ id: p.m.messageId, topic: p.topic, newMessageId: p.newMessageId });
      } catch (error) {
        for (const p of stored)
          result.notAcked.push({ id: p.m.messageId, topic: p.topic, newMessageId: p.newMessageId, error: message(error) });
      }
    }
  } finally {
    await puller.release(hold).catch(() => {});
  }
  result.missing = [...wanted].filter((id) => !found.has(id));
  return result;
}

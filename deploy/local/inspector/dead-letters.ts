/**
 * The inspector's dead-letter inbox: the same pull subscription and the same
 * list and replay code as `run-relay dlq` (shared/delivery/dead-letters.ts),
 * shaped for the page. Listing pulls and releases at once, so the messages
 * stay parked and the CLI sees them too.
 */
import { listDeadLetters, replayDeadLetters } from '../../../shared/delivery/dead-letters.js';
import { envelopeBody, parseEnvelope } from '../../../shared/envelope.js';
import type { Publisher } from '../../../shared/pubsub/publisher.js';
import type { Puller } from '../../../shared/pubsub/pull.js';
import { preview } from './model.js';

export interface DeadLetterView {
  /** The dead-letter copy's message id, as `run-relay dlq show|replay` take it. */
  id: string;
  at: string;
  ageMs: number;
  reason: string;
  detail: string;
  route?: string;
  target?: string;
  status?: number;
  attempts?: number;
  idempotencyKey?: string;
  bodyPreview: string;
}

export interface DeadLetterInbox {
  list(): Promise<DeadLetterView[]>;
  /** Moves one parked message back into delivery; resolves with a sentence saying what happened. */
  replay(id: string): Promise<{ replayed: boolean; message: string }>;
}

function bodyPreviewOf(data: Buffer): string {
  try {
    return preview(envelopeBody(parseEnvelope(data)) ?? Buffer.alloc(0));
  } catch {
    return preview(data); // not an envelope: the original message bytes were parked
  }
}

/** An inbox over the dead-letter subscription's puller; replays publish with `publisher`, to `defaultTopic` unless the message names one. */
export function deadLetterInbox(options: { puller: Puller; publisher: Publisher; defaultTopic: string }): DeadLetterInbox {
  const { puller, publisher, defaultTopic } = options;
  return {
    async list() {
      const parked = await listDeadLetters(puller, { limit: 200 });
      return parked.map((p) => ({
        id: p.id,
        at: p.at,
        ageMs: p.ageMs,
        reason: p.reason,
        detail: p.detail,
        route: p.route,
        target: p.target,
        status: p.status,
        attempts: p.attempts,
        idempotencyKey: p.idempotencyKey,
        bodyPreview: bodyPreviewOf(p.data),
      }));
    },
    async replay(id) {
      const result = await replayDeadLetters(puller, publisher, { ids: [id], defaultTopic, limit: 200 });
      const done = result.replayed[0];
      if (done) return { replayed: true, message: `Replayed ${id} to ${done.topic} as message ${done.newMessageId}` };
      const failed = result.failed[0] ?? result.notAcked[0];
      if (failed) return { replayed: false, message: `Replay of ${id} failed: ${failed.error}` };
      return { replayed: false, message: `No parked message with id ${id}` };
    },
  };
}

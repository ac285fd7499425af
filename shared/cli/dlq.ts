/**
 * `run-relay dlq list|show ID|replay (ID... | --all)`: operate the
 * dead-letter topic through its pull subscription (created if missing).
 */
import { loadConfig } from '../config/load.js';
import { isParkedAs, listDeadLetters, replayDeadLetters, type ParkedMessage, type ReplayResult } from '../delivery/dead-letters.js';
import { envelopeBody, envelopeSchema } from '../envelope.js';
import { ensureSubscription } from '../pubsub/admin.js';
import { openPubSub, pubSubPublisher, pubSubOptionsOf } from '../pubsub/publisher.js';
import { parseSettings } from '../settings.js';
import { openPuller } from '../pubsub/pull.js';
import { CliError, type Command } from './main.js';

function age(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

function row(p: ParkedMessage): string {
  return [p.id, age(p.ageMs), p.route ?? '-', p.target ?? '-', p.reason, p.status ?? '-', p.idempotencyKey ?? '-'].join('\t');
}

const PRINTABLE = /^[\t\n\r\x20-\x7e\u00a0-\uffff]*$/;

/** Bytes as a person wants to read them: parsed JSON, else text, else `base64:...`. */
export function decodeBody(bytes: Buffer): unknown {
  const text = bytes.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return PRINTABLE.test(text) ? text : `base64:${bytes.toString('base64')}`;
  }
}

/** A parked message for `show` and `list --json`: the envelope's fields, and its body decoded. */
export function printable(p: ParkedMessage): Record<string, unknown> {
  const { data, ...rest } = p;
  const parsed = envelopeSchema().safeParse(decodeBody(data));
  if (!parsed.success) return { ...rest, data: decodeBody(data) };
  const { body, bodyBase64, ...envelope } = parsed.data;
  const bytes = envelopeBody(parsed.data);
  return { ...rest, envelope, body: bytes === undefined ? null : decodeBody(bytes) };
}

/** `1 replayed, 0 failed, 2 others still parked`: each count names what it counts (failed ones stay parked too). */
export function replaySummary(result: ReplayResult): string {
  const parts = [`${result.replayed.length} replayed`, `${result.failed.length} failed`];
  if (result.notAcked.length > 0) parts.push(`${result.notAcked.length} published but not acked`);
  if (result.missing.length > 0) parts.push(`${result.missing.length} not found`);
  parts.push(`${result.kept} other${result.kept === 1 ? '' : 's'} still parked`);
  return parts.join(', ');
}

export const dlqCommand: Command = {
  summary: 'List, show and replay dead-lettered deliveries.',
  usage:
    'run-relay dlq list [--json] | dlq show ID | dlq replay (ID... | --all)\n\n' +
    '  ID is the id `dlq list` shows (the deadLetterId of the "Message dead-lettered" log line); the original message id works too.\n' +
    '  show prints the envelope and its body decoded (JSON, else text, else base64:...).',
  options: { json: { type: 'boolean' }, all: { type: 'boolean' }, limit: { type: 'string' } },
  async run({ positionals, values, env, out }) {
    const [action, ...ids] = positionals;
    if (!['list', 'show', 'replay'].includes(action ?? '')) throw new CliError('expected `list`, `show ID` or `replay (ID... | --all)`');
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
      throw new CliError(`expected --limit to be a positive integer, got "${String(values.limit)}"`);
    const { config } = loadConfig(env);
    const pubsub = await openPubSub(pubSubOptionsOf(config.projectId, parseSettings(env)));
    const { deadLetterTopic, deadLetterSubscription, deliveryTopic } = config.pubsub;
    try {
      await ensureSubscription(pubsub, { topic: deadLetterTopic, name: deadLetterSubscription });
      const puller = await openPuller(pubsub, deadLetterSubscription);
      try {
        if (action === 'list') {
          const parked = await listDeadLetters(puller, { limit });
          if (values.json) out(JSON.stringify(parked.map(printable), null, 2));
          else {
            out(['id', 'age', 'route', 'target', 'reason', 'status', 'idempotency-key'].join('\t'));
            parked.forEach((p) => out(row(p)));
            out(`${parked.length} parked in ${deadLetterTopic}`);
          }
          return 0;
        }
        if (action === 'show') {
          if (ids.length !== 1) throw new CliError('expected exactly one ID');
          const parked = await listDeadLetters(puller, { limit });
          const found = parked.find((p) => isParkedAs(p, ids[0]!));
          if (!found) {
            out(`No parked message with id ${ids[0]} (parked: ${parked.map((p) => p.id).join(', ') || 'none'})`);
            return 1;
          }
          out(JSON.stringify(printable(found), null, 2));
          return 0;
        }
        if (!values.all && ids.length === 0) throw new CliError('expected IDs to replay, or --all');
        const publisher = pubSubPublisher(pubSubOptionsOf(config.projectId, parseSettings(env)));
        try {
          const result = await replayDeadLetters(puller, publisher, { ids, all: values.all === true, defaultTopic: deliveryTopic, limit });
          for (const r of result.replayed) out(`replayed ${r.id} -> ${r.topic} as ${r.newMessageId}`);
          for (const f of result.failed) out(`FAILED ${f.id}: ${f.error} (left parked)`);
          for (const n of result.notAcked)
            out(
              `PUBLISHED BUT NOT ACKED ${n.id} -> ${n.topic} as ${n.newMessageId}: ${n.error} (its parked copy may come back: do not replay it again)`,
            );
          for (const m of result.missing) out(`not found: ${m}`);
          out(replaySummary(result));
          return result.failed.length > 0 || result.missing.length > 0 || result.notAcked.length > 0 ? 1 : 0;
        } finally {
          await publisher.close();
        }
      } finally {
        await puller.close();
      }
    } finally {
      await pubsub.close();
    }
  },
};

/**
 * `run-relay dlq list|show ID|replay (ID... | --all)`: operate the
 * dead-letter topic through its pull subscription (created if missing).
 */
import { loadConfig } from '../config/load.js';
import { listDeadLetters, replayDeadLetters, type ParkedMessage } from '../delivery/dead-letters.js';
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

function printable(p: ParkedMessage): Record<string, unknown> {
  const { data, ...rest } = p;
  const text = data.toString('utf8');
  return { ...rest, data: /^[\x09\x0a\x0d\x20-\x7e\u00a0-\uffff]*$/.test(text) ? text : `base64:${data.toString('base64')}` };
}

export const dlqCommand: Command = {
  summary: 'List, show and replay dead-lettered deliveries.',
  usage: 'run-relay dlq list [--json] | dlq show ID | dlq replay (ID... | --all)',
  options: { json: { type: 'boolean' }, all: { type: 'boolean' }, limit: { type: 'string' } },
  async run({ positionals, values, env, out }) {
    const [action, ...ids] = positionals;
    if (!['list', 'show', 'replay'].includes(action ?? '')) throw new CliError('expected `list`, `show ID` or `replay (ID... | --all)`');
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new CliError(`expected --limit to be a positive integer, got "${String(values.limit)}"`);
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
          const found = (await listDeadLetters(puller, { limit })).find((p) => p.id === ids[0]);
          if (!found) {
            out(`No parked message with id ${ids[0]}`);
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
          for (const n of result.notAcked) out(`PUBLISHED BUT NOT ACKED ${n.id} -> ${n.topic} as ${n.newMessageId}: ${n.error} (its parked copy may come back: do not replay it again)`);
          for (const m of result.missing) out(`not found: ${m}`);
          out(`${result.replayed.length} replayed, ${result.failed.length} failed, ${result.kept} left parked${result.notAcked.length > 0 ? `, ${result.notAcked.length} published but not acked` : ''}`);
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

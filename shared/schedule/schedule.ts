/**
 * Schedules: what one tick publishes, publishing a tick now, and running
 * every schedule on its cron while a local stack is up. In the cloud, the
 * same envelope (less the tick key) is the Cloud Scheduler job's payload.
 */
import type { RelayConfig } from '../config/schema.js';
import { envelopeMessage, type EnvelopeInput } from '../envelope.js';
import type { Logger } from '../log.js';
import type { Publisher } from '../pubsub/publisher.js';
import { cronMatches, parseCron } from './cron.js';

/**
 * The one envelope schedule `name` publishes, locally and from Cloud
 * Scheduler alike: it names the schedule, and the `pubsub` function sends it
 * to the schedule's route or forward list (fanning out when there are
 * several targets), each target with the key `<event key>:<target>`.
 * With `tickKey` the event key is the tick's, so a tick published twice is
 * recognised by the targets; without it (Cloud Scheduler's fixed payload)
 * each tick's Pub/Sub message id is the event key.
 */
export function scheduleEnvelope(config: RelayConfig, name: string, options: { tickKey?: string; at?: Date } = {}): EnvelopeInput {
  if (!Object.hasOwn(config.schedules, name))
    throw new Error(`No schedule named "${name}"; expected one of: ${Object.keys(config.schedules).join(', ') || '(none)'}`);
  const schedule = config.schedules[name]!;
  return {
    v: 1,
    schedule: name,
    headers: { 'content-type': schedule.contentType, 'x-relay-schedule': name },
    ...(schedule.body ? { body: schedule.body } : {}),
    ...(options.tickKey ? { idempotencyKey: options.tickKey } : {}),
    origin: { kind: 'schedule', name, ...(options.at ? { at: options.at.toISOString() } : {}) },
  };
}

/** The envelope a Cloud Scheduler job publishes for schedule `name`: {@link scheduleEnvelope} without a key. */
export function schedulerJobEnvelope(config: RelayConfig, name: string): EnvelopeInput {
  return scheduleEnvelope(config, name);
}

/** The key of the cron tick in the minute of `at`: the same for anyone firing that minute. */
export function tickKey(name: string, at: Date): string {
  return `schedule:${name}:${new Date(Math.floor(at.getTime() / 60_000) * 60_000).toISOString()}`;
}

/** Publishes one tick of schedule `name` now; resolves with the message ids. */
export async function publishTick(
  config: RelayConfig,
  publisher: Publisher,
  name: string,
  options: { key?: string; at?: Date } = {},
): Promise<string[]> {
  const at = options.at ?? new Date();
  const envelope = scheduleEnvelope(config, name, { tickKey: options.key ?? `schedule:${name}:manual:${at.toISOString()}`, at });
  return [await publisher.publish(config.pubsub.deliveryTopic, envelopeMessage(envelope))];
}

export interface SchedulerOptions {
  publisher: Publisher;
  logger?: Logger;
  now?: () => number;
}

/**
 * Runs every schedule of `config` on its cron until `stop()`: at each minute
 * boundary, publishes a tick (key: {@link tickKey}) for each schedule whose
 * cron matches in its time zone. For the local stack:
 * `const stop = runSchedules(config, { publisher, logger })`.
 */
export function runSchedules(config: RelayConfig, options: SchedulerOptions): { stop(): void } {
  const now = options.now ?? Date.now;
  const crons = Object.entries(config.schedules).map(([name, s]) => ({ name, cron: parseCron(s.cron), timeZone: s.timeZone }));
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = () => {
    if (stopped) return;
    const t = now();
    timer = setTimeout(fire, 60_000 - (t % 60_000) + 5);
    timer.unref?.();
  };
  const fire = () => {
    const at = new Date(now());
    for (const { name, cron, timeZone } of crons) {
      if (!cronMatches(cron, at, timeZone)) continue;
      publishTick(config, options.publisher, name, { key: tickKey(name, at), at }).then(
        (ids) => options.logger?.info('Schedule tick published', { schedule: name, messageIds: ids }),
        (error: unknown) => options.logger?.error('Schedule tick could not be published', { schedule: name, error }),
      );
    }
    arm();
  };
  arm();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

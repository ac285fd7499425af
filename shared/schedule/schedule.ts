/**
 * Schedules: what one tick publishes, publishing a tick now, and running
 * every schedule on its cron while a local stack is up. In the cloud, the
 * same envelopes become Cloud Scheduler jobs' Pub/Sub payloads.
 */
import type { RelayConfig } from '../config/schema.js';
import { deriveKey, envelopeMessage, type EnvelopeInput } from '../envelope.js';
import type { Logger } from '../log.js';
import type { Publisher } from '../pubsub/publisher.js';
import { cronMatches, parseCron } from './cron.js';

/**
 * The envelopes one tick of schedule `name` publishes: one naming the route
 * (the `pubsub` function fans it out), or one per `forward` entry. With
 * `tickKey` every envelope carries a key derived from it, so a tick
 * published twice is recognised by the targets; without it (Cloud
 * Scheduler's fixed payload) the Pub/Sub message id is the event key.
 */
export function scheduleEnvelopes(config: RelayConfig, name: string, tickKey?: string, at?: Date): EnvelopeInput[] {
  const schedule = config.schedules[name];
  if (!schedule) throw new Error(`No schedule named "${name}"; expected one of: ${Object.keys(config.schedules).join(', ') || '(none)'}`);
  const common = {
    v: 1 as const,
    headers: { 'content-type': schedule.contentType, 'x-relay-schedule': name },
    ...(schedule.body ? { body: schedule.body } : {}),
    origin: { kind: 'schedule' as const, name, ...(at ? { at: at.toISOString() } : {}) },
  };
  if (schedule.route) return [{ ...common, route: schedule.route, ...(tickKey ? { idempotencyKey: tickKey } : {}) }];
  return schedule.forward!.map((d) => ({ ...common, target: d.target, path: d.path, method: d.method, ...(tickKey ? { idempotencyKey: deriveKey(tickKey, d.target) } : {}) }));
}

/**
 * The one envelope a Cloud Scheduler job publishes for schedule `name`: it
 * names the schedule, and the `pubsub` function fans it out to the
 * schedule's route or forward list. Scheduler's payload is fixed, so there is
 * no key: each tick's Pub/Sub message id is its event key.
 */
export function schedulerJobEnvelope(config: RelayConfig, name: string): EnvelopeInput {
  const schedule = config.schedules[name];
  if (!schedule) throw new Error(`No schedule named "${name}"; expected one of: ${Object.keys(config.schedules).join(', ') || '(none)'}`);
  return {
    v: 1,
    schedule: name,
    headers: { 'content-type': schedule.contentType, 'x-relay-schedule': name },
    ...(schedule.body ? { body: schedule.body } : {}),
    origin: { kind: 'schedule', name },
  };
}

/** The key of the cron tick in the minute of `at`: the same for anyone firing that minute. */
export function tickKey(name: string, at: Date): string {
  return `schedule:${name}:${new Date(Math.floor(at.getTime() / 60_000) * 60_000).toISOString()}`;
}

/** Publishes one tick of schedule `name` now; resolves with the message ids. */
export async function publishTick(config: RelayConfig, publisher: Publisher, name: string, options: { key?: string; at?: Date } = {}): Promise<string[]> {
  const at = options.at ?? new Date();
  const envelopes = scheduleEnvelopes(config, name, options.key ?? `schedule:${name}:manual:${at.toISOString()}`, at);
  return Promise.all(envelopes.map((e) => publisher.publish(config.pubsub.deliveryTopic, envelopeMessage(e))));
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

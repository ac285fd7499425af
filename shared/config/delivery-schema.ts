/**
 * Config for durable delivery on Pub/Sub (issue 4): the relay's topics,
 * plain topics mapped to targets, and schedules. Kept apart from schema.ts,
 * which only references these blocks.
 */
import * as z from 'zod';
import { CronError, parseCron } from '../schedule/cron.js';

const httpMethod = () => z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
const topicName = () =>
  z.string().regex(/^[A-Za-z][A-Za-z0-9._~%+-]{2,254}$/, 'expected a Pub/Sub topic name (3-255 characters, starting with a letter)');
const headerName = () => z.string().regex(/^[a-z0-9-]+$/, 'expected a lower-case header name');

// Builders, not schemas: the config schema (schema.ts) builds each once while the config is checked, and drops them.

/** One delivery destination: a target and where on it. */
export const buildDestinationSchema = () =>
  z
    .object({
      target: z.string().min(1),
      path: z.string().startsWith('/', 'expected a path starting with "/"').default('/'),
      method: httpMethod().default('POST'),
    })
    .strict();

/** `pubsub:` the relay's own topics. */
export const buildPubsubSchema = () => {
  const topic = topicName();
  return z
    .object({
      /** Topic async routes, schedules and fan-out publish envelopes to; the `pubsub` function is triggered by it. */
      deliveryTopic: topic.default('relay-deliveries'),
      /** Topic permanent failures are parked in. */
      deadLetterTopic: topic.default('relay-dead-letters'),
      /** Pull subscription on the dead-letter topic the `dlq` commands read. */
      deadLetterSubscription: topic.default('relay-dead-letters-inbox'),
      /** Time budget for one delivery attempt by the `pubsub` function, in-function retries included; keep it below the subscription's ack deadline. */
      deliveryDeadlineMs: z.number().int().min(100).max(540_000).default(60_000),
    })
    .strict();
};

/** `topics.<name>`: an existing topic whose plain messages are relayed to targets. */
export const buildTopicSchema = (destination: Destinations) =>
  z
    .object({
      forward: z.array(destination).min(1, 'expected at least one forward entry'),
      /** Message attributes passed on as request headers (lower-case attribute names). */
      attributeHeaders: z.array(headerName()).default([]),
      /** Push subscriptions of this topic, so attribute-only messages (which arrive unconverted) are recognised. */
      subscriptions: z.array(z.string().min(1)).default([]),
    })
    .strict();

/** `schedules.<name>`: a cron tick that publishes envelopes. */
export const buildScheduleSchema = (destination: Destinations) =>
  z
    .object({
      /** Five-field cron: minute hour day-of-month month day-of-week. */
      cron: z.string().min(1),
      timeZone: z.string().default('UTC'),
      /** Either a route (its forward list) or an explicit forward list. */
      route: z.string().min(1).optional(),
      forward: z.array(destination).min(1).optional(),
      body: z.string().default(''),
      contentType: z.string().default('application/json'),
    })
    .strict()
    .refine((s) => (s.route === undefined) !== (s.forward === undefined), { message: 'expected exactly one of `route` or `forward`' });

/** The destination schema the config schema built once, shared by routes, topics and schedules. */
type Destinations = ReturnType<typeof buildDestinationSchema>;

export type Destination = z.output<Destinations>;
export type PubSubConfig = z.output<ReturnType<typeof buildPubsubSchema>>;
export type TopicConfig = z.output<ReturnType<typeof buildTopicSchema>>;
export type ScheduleConfig = z.output<ReturnType<typeof buildScheduleSchema>>;

interface Refinable {
  targets: Record<string, unknown>;
  routes: Record<string, unknown>;
  topics: Record<string, TopicConfig>;
  schedules: Record<string, ScheduleConfig>;
}

/** Cross-checks topics and schedules against targets and routes; called from the config schema's superRefine (schema.ts). */
export function checkDeliveryRefs(config: Refinable, ctx: z.RefinementCtx): void {
  const known = Object.keys(config.targets).join(', ') || '(no targets defined)';
  const checkForward = (forward: Destination[] | undefined, path: (string | number)[]) =>
    forward?.forEach((entry, index) => {
      if (!Object.hasOwn(config.targets, entry.target)) {
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'forward', index, 'target'],
          message: `unknown target "${entry.target}"; expected one of: ${known}`,
        });
      }
    });
  for (const [name, topic] of Object.entries(config.topics)) checkForward(topic.forward, ['topics', name]);
  for (const [name, schedule] of Object.entries(config.schedules)) {
    checkForward(schedule.forward, ['schedules', name]);
    if (schedule.route !== undefined && !Object.hasOwn(config.routes, schedule.route)) {
      ctx.addIssue({
        code: 'custom',
        path: ['schedules', name, 'route'],
        message: `unknown route "${schedule.route}"; expected one of: ${Object.keys(config.routes).join(', ') || '(no routes defined)'}`,
      });
    }
    try {
      parseCron(schedule.cron);
    } catch (error) {
      if (!(error instanceof CronError)) throw error;
      ctx.addIssue({ code: 'custom', path: ['schedules', name, 'cron'], message: `invalid cron: ${error.message}` });
    }
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: schedule.timeZone });
    } catch {
      ctx.addIssue({
        code: 'custom',
        path: ['schedules', name, 'timeZone'],
        message: `unknown time zone "${schedule.timeZone}"; expected an IANA name such as Europe/Paris`,
      });
    }
  }
}

/**
 * The core of the `pubsub` function: one Pub/Sub message in, one outcome out.
 *
 * - delivered (or fanned out into per-target envelopes) → resolve: ack;
 * - retryable failure after the in-function retries → throw: Pub/Sub redelivers;
 * - permanent failure (what the delivery policy parks, a bad envelope, an
 *   unknown route, schedule or target) → publish to the dead-letter topic with
 *   the reason, then resolve, so a poison message never loops. If parking
 *   fails, throw: nothing is lost.
 */
import type { LoadedConfig } from '../config/load.js';
import type { Destination } from '../config/delivery-schema.js';
import {
  envelopeBody,
  envelopeMessage,
  EnvelopeError,
  ENVELOPE_ATTRIBUTE,
  isHeaderValue,
  parseEnvelope,
  type Envelope,
  type EnvelopeInput,
} from '../envelope.js';
import { RelayError } from '../errors.js';
import { clientOverFetch, deadlineSignal, forward, type ForwardDeps } from '../forward/forward.js';
import { isPassable } from '../forward/headers.js';
import { outboundRequests, type OutboundRequest } from '../forward/outbound.js';
import { decide, type DeliveryResult } from '../forward/policy.js';
import { resolveTargets, type ResolvedTarget } from '../forward/targets.js';
import { topicSubscriptionName } from '../deploy/names.js';
import { createTargetGuards, type TargetGuards } from '../forward/target-guard.js';
import { dedupeKey, deliverOnce, leaseFor } from '../dedupe/dedupe.js';
import type { DedupeStore } from '../dedupe/store.js';
import { silentLogger, type Logger } from '../log.js';
import type { Publisher } from '../pubsub/publisher.js';
import { deadLetterAttributes, REPLAYED_AT_ATTRIBUTE, type DeadLetterReason, type DeadLetterReasonCode } from './dead-letter.js';
import type { PubSubMessage } from './message.js';
import { planEnvelopes, requestEnvelope, type EventToPlan } from './plan.js';
import { sentTraffic } from '../traffic.js';

export interface DelivererDeps extends ForwardDeps {
  publisher: Publisher;
  logger?: Logger;
  /** The config's targets with their audiences; default worked out from the config (pass one map to share it). */
  targets?: ReadonlyMap<string, ResolvedTarget>;
  /** Per-target circuits and caps, shared with the webhook relay; default built from the config. */
  guards?: TargetGuards;
  /** Where targets (or webhook routes) with `dedupe:` remember delivered keys; required only if such a target or route exists. */
  dedupeStore?: DedupeStore;
  /** Add the headers and a body preview sent to delivery log lines (`logTraffic` setting, for the local inspector); default false. */
  logTraffic?: boolean;
}

/** When `dlq replay` published this message (its `relay-replayed-at` mark), ms since the epoch; else undefined. */
function replayedAt(message: PubSubMessage): number | undefined {
  const at = Date.parse(message.attributes[REPLAYED_AT_ATTRIBUTE] ?? '');
  return Number.isNaN(at) ? undefined : at;
}

export type Outcome =
  | { kind: 'delivered'; target: string; status: number; attempts: number; idempotencyKey: string }
  | { kind: 'fanned_out'; deliveries: number }
  /**
   * Already delivered, or already parked in the dead-letter topic, within the dedupe window (durable
   * de-duplication): acked without calling the target.
   */
  | { kind: 'duplicate'; target: string; idempotencyKey: string; of: 'delivered' | 'parked' }
  | { kind: 'dead_lettered'; reason: DeadLetterReasonCode; target?: string };

export interface Deliverer {
  /** Resolves with the outcome (ack); rejects with a retryable RelayError (nack). */
  handle(message: PubSubMessage): Promise<Outcome>;
}

interface Single {
  target: ResolvedTarget;
  request: OutboundRequest;
  route?: string;
  /** The per-target envelope, as it is parked. */
  envelope: EnvelopeInput;
}

type Plan =
  | { kind: 'single'; delivery: Single }
  | { kind: 'fanout'; envelopes: EnvelopeInput[] }
  | { kind: 'dead'; why: Omit<DeadLetterReason, 'replayTopic' | 'messageId' | 'sourceTopic'> };

/** Builds the deliverer from a loaded config. */
export function createDeliverer(loaded: LoadedConfig, deps: DelivererDeps): Deliverer {
  const { config } = loaded;
  const settings = config.pubsub;
  const logger = deps.logger ?? silentLogger;
  const targets = deps.targets ?? resolveTargets(config.targets);
  const guards = deps.guards ?? createTargetGuards(config.targets, { logger, now: deps.now });
  const client = deps.client ?? clientOverFetch(deps.fetch);
  for (const [name, t] of Object.entries(config.targets)) {
    if (t.dedupe && !deps.dedupeStore) throw new Error(`targets.${name}.dedupe needs a de-duplication store, and none was given`);
  }
  for (const [name, r] of Object.entries(config.routes)) {
    if (r.dedupe && r.mode === 'async' && !deps.dedupeStore)
      throw new Error(`routes.${name}.dedupe needs a de-duplication store, and none was given`);
  }

  /** The target's own `dedupe`, else that of the async webhook route the envelope came from. */
  function dedupeOf(d: Single) {
    if (d.target.config.dedupe) return d.target.config.dedupe;
    const origin = d.envelope.origin;
    if (origin?.kind === 'webhook' && origin.name !== undefined && Object.hasOwn(config.routes, origin.name))
      return config.routes[origin.name]!.dedupe;
    return undefined;
  }
  const topicBySubscription = new Map<string, string>();
  for (const [topic, t] of Object.entries(config.topics)) {
    for (const s of t.subscriptions) topicBySubscription.set(s, topic);
    // The push subscription `run-relay deploy` creates for the topic, when the config lists none.
    topicBySubscription.set(topicSubscriptionName(config, topic), topic);
  }

  function plainTopicOf(message: PubSubMessage): string | undefined {
    if (message.attributes[ENVELOPE_ATTRIBUTE]) return undefined;
    if (message.topic && Object.hasOwn(config.topics, message.topic)) return message.topic;
    if (message.subscription) return topicBySubscription.get(message.subscription);
    return undefined;
  }

  /** An envelope naming one target: the one request it asks for, through the one builder. */
  function single(envelope: EnvelopeInput & { target: string }, eventKey: string): Plan {
    const target = targets.get(envelope.target);
    if (!target)
      return {
        kind: 'dead',
        why: { reason: 'unknown_target', detail: `No target named "${envelope.target}" in the config`, target: envelope.target },
      };
    const destination = { target: envelope.target, path: envelope.path ?? '/', method: envelope.method ?? 'POST' };
    const body = envelopeBody(envelope as Envelope);
    const [request] = outboundRequests({ headers: envelope.headers ?? {}, body, eventKey, keys: 'event' }, [destination]);
    const origin = envelope.origin ?? { kind: 'external' as const };
    return { kind: 'single', delivery: { target, request: request!, route: origin.name, envelope: requestEnvelope(request!, origin) } };
  }

  function fromDestinations(destinations: readonly Destination[], base: Omit<EventToPlan, 'destinations'>): Plan {
    const envelopes = planEnvelopes({ destinations, ...base });
    if (envelopes.length === 1) return single(envelopes[0]!, envelopes[0]!.idempotencyKey);
    return { kind: 'fanout', envelopes };
  }

  function plan(message: PubSubMessage, log: Logger): Plan {
    const plainTopic = plainTopicOf(message);
    if (plainTopic) {
      const topic = config.topics[plainTopic]!;
      const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
      for (const name of topic.attributeHeaders) {
        if (!Object.hasOwn(message.attributes, name) || !isPassable(name)) continue;
        const value = message.attributes[name]!;
        // node:http refuses such a value (ERR_INVALID_CHAR) and the message would be retried forever: drop it.
        if (!isHeaderValue(value)) log.warn('Attribute value is not a valid HTTP header value; not forwarded', { attribute: name });
        else headers[name] = value;
      }
      return fromDestinations(topic.forward, {
        headers,
        body: message.data,
        eventKey: message.messageId,
        origin: { kind: 'topic', name: plainTopic, at: message.publishTime },
      });
    }
    if (message.data.length === 0) {
      return {
        kind: 'dead',
        why: {
          reason: 'unknown_source',
          detail: `Message without data from ${message.topic ? `topic ${message.topic}` : `subscription ${message.subscription ?? '(unknown)'}`}, which no "topics" entry maps to a target`,
        },
      };
    }
    let envelope: Envelope;
    try {
      envelope = parseEnvelope(message.data);
    } catch (error) {
      if (error instanceof EnvelopeError) return { kind: 'dead', why: { reason: 'invalid_envelope', detail: error.message } };
      throw error;
    }
    const eventKey = envelope.idempotencyKey ?? message.messageId;
    if (envelope.target !== undefined) return single({ ...envelope, target: envelope.target }, eventKey);
    const body = envelopeBody(envelope);
    const base = { headers: envelope.headers, body, eventKey, origin: envelope.origin };
    if (envelope.targets !== undefined) {
      return fromDestinations(
        envelope.targets.map((target) => ({ target, path: envelope.path ?? '/', method: envelope.method ?? 'POST' })),
        base,
      );
    }
    let routeName = envelope.route;
    let forward: readonly Destination[] | undefined;
    if (envelope.schedule !== undefined) {
      // Own properties only: a schedule named `__proto__` or `toString` is unknown, not Object.prototype's.
      if (!Object.hasOwn(config.schedules, envelope.schedule))
        return { kind: 'dead', why: { reason: 'unknown_schedule', detail: `No schedule named "${envelope.schedule}" in the config` } };
      const schedule = config.schedules[envelope.schedule]!;
      routeName = schedule.route;
      forward = schedule.forward;
    }
    if (routeName !== undefined) {
      if (!Object.hasOwn(config.routes, routeName))
        return { kind: 'dead', why: { reason: 'unknown_route', detail: `No route named "${routeName}" in the config`, route: routeName } };
      forward = config.routes[routeName]!.forward;
    }
    const destinations = forward!.map((f) => ({ target: f.target, path: envelope.path ?? f.path, method: envelope.method ?? f.method }));
    return fromDestinations(destinations, {
      ...base,
      origin: { ...envelope.origin, name: envelope.origin.name ?? envelope.schedule ?? envelope.route },
    });
  }

  async function park(message: PubSubMessage, why: DeadLetterReason, data: Buffer, log: Logger): Promise<Outcome> {
    let deadLetterId: string;
    try {
      deadLetterId = await deps.publisher.publish(settings.deadLetterTopic, {
        data,
        attributes: deadLetterAttributes(message.attributes, why, new Date()),
      });
    } catch (error) {
      log.error('Could not park the message in the dead-letter topic; leaving it to Pub/Sub to redeliver', { error, reason: why.reason });
      throw new RelayError('unavailable', 'Dead-letter topic unavailable', { cause: error });
    }
    // deadLetterId is the parked copy's id: what `run-relay dlq list` shows and `dlq show` / `dlq replay` take.
    log.log('WARNING', 'Message dead-lettered', {
      deadLetterId,
      reason: why.reason,
      detail: why.detail,
      status: why.status,
      attempts: why.attempts,
      target: why.target,
    });
    return { kind: 'dead_lettered', reason: why.reason, target: why.target };
  }

  /** Delivers `d` once per key when its target or route asks for durable de-duplication; else as is. */
  async function deliver(message: PubSubMessage, d: Single, log: Logger): Promise<Outcome> {
    const dedupe = dedupeOf(d);
    if (!dedupe) return deliverNow(message, d, log);
    const key = d.request.idempotencyKey;
    const once = await deliverOnce(
      {
        store: deps.dedupeStore!,
        key: dedupeKey('target', d.target.name, key),
        config: dedupe,
        leaseMs: leaseFor(settings.deliveryDeadlineMs),
        // A parked delivery keeps its key: the target may have acted on it (an unusable answer), and the event waits in
        // the dead-letter topic, so a copy is acked without a call; `dlq replay` (which marks the message) takes it over.
        settlement: (o) => (o.kind === 'delivered' ? 'delivered' : o.kind === 'dead_lettered' ? 'parked' : 'released'),
        ...(replayedAt(message) !== undefined ? { replayedAt: replayedAt(message) } : {}),
        log,
      },
      () => deliverNow(message, d, log),
    );
    if (once.kind === 'called') return once.value;
    if (once.kind === 'duplicate') {
      log.info('Already delivered; acked without calling the target (durable de-duplication)', { idempotencyKey: key });
      return { kind: 'duplicate', target: d.target.name, idempotencyKey: key, of: 'delivered' };
    }
    if (once.kind === 'parked') {
      log.info('Already parked in the dead-letter topic; acked without calling the target (durable de-duplication)', {
        idempotencyKey: key,
      });
      return { kind: 'duplicate', target: d.target.name, idempotencyKey: key, of: 'parked' };
    }
    // Another delivery of the same key is under way: a nack, so Pub/Sub brings this one back once that one settled.
    log.info('Same delivery in flight elsewhere; Pub/Sub will redeliver', { idempotencyKey: key });
    throw new RelayError('delivery_in_progress', `A delivery of ${key} to ${d.target.name} is in flight`);
  }

  async function deliverNow(message: PubSubMessage, d: Single, log: Logger): Promise<Outcome> {
    const { request, target } = d;
    const deadline = deadlineSignal(settings.deliveryDeadlineMs);
    if (deps.logTraffic) log = log.child(sentTraffic(request.headers, target.config.tokenHeader, request.body));
    const started = performance.now();
    let result: DeliveryResult;
    let attempts: number | undefined;
    try {
      // An open circuit or a full cap refuses at once (target_unavailable): a nack, and Pub/Sub's backoff spaces the retry.
      const response = await guards.run(
        target.name,
        (guarded) =>
          forward(
            { target, method: request.method, path: request.path, headers: request.headers, body: request.body },
            { ...deps, client: guarded.client, logger: log },
            guarded.deadline,
          ),
        { wait: false, deadline, route: d.route, client },
      );
      result = { status: response.status };
      attempts = response.attempts;
    } catch (error) {
      result = { error };
    } finally {
      deadline.clear();
    }
    const decision = decide(result);
    const idempotencyKey = request.idempotencyKey;
    if (decision.verdict === 'deliver' && 'status' in result) {
      log.info('Delivered to target', {
        status: result.status,
        attempts,
        idempotencyKey,
        latencyMs: Math.round(performance.now() - started),
      });
      return { kind: 'delivered', target: target.name, status: result.status, attempts: attempts ?? 1, idempotencyKey };
    }
    if (decision.verdict === 'park') {
      const status = 'status' in result ? result.status : undefined;
      const detail =
        'status' in result
          ? `Target ${target.name} answered ${result.status}`
          : result.error instanceof Error
            ? result.error.message
            : String(result.error);
      const why: DeadLetterReason = {
        reason: decision.reason,
        detail,
        status,
        attempts,
        target: target.name,
        route: d.route,
        replayTopic: settings.deliveryTopic,
        sourceTopic: message.topic,
        messageId: message.messageId,
      };
      return park(message, why, envelopeMessage(d.envelope).data, log);
    }
    if ('status' in result) {
      log.warn('Target still failing after in-function retries; Pub/Sub will redeliver', {
        status: result.status,
        attempts,
        idempotencyKey,
        latencyMs: Math.round(performance.now() - started),
      });
      throw new RelayError('target_retryable_status', `Target ${target.name} answered ${result.status}`, {
        details: { status: result.status, attempts },
      });
    }
    // Unreachable, no token, out of time: all worth another try later.
    const { error } = result;
    log.warn('Delivery failed; Pub/Sub will redeliver', { error, idempotencyKey });
    throw error instanceof RelayError && error.code !== 'deadline_exceeded'
      ? error
      : new RelayError('target_unreachable', `Delivery to ${target.name} did not complete`, { cause: error });
  }

  return {
    async handle(message) {
      const log = logger.child({ messageId: message.messageId, ...(message.topic ? { topic: message.topic } : {}) });
      const p = plan(message, log);
      if (p.kind === 'dead') {
        const replayTopic = message.topic ?? settings.deliveryTopic;
        return park(message, { ...p.why, replayTopic, sourceTopic: message.topic, messageId: message.messageId }, message.data, log);
      }
      if (p.kind === 'fanout') {
        try {
          await Promise.all(p.envelopes.map((e) => deps.publisher.publish(settings.deliveryTopic, envelopeMessage(e))));
        } catch (error) {
          log.error('Fan-out publish failed; Pub/Sub will redeliver', { error });
          throw new RelayError('unavailable', 'Could not publish the per-target deliveries', { cause: error });
        }
        log.info('Fanned out', { deliveries: p.envelopes.length, targets: p.envelopes.map((e) => e.target) });
        return { kind: 'fanned_out', deliveries: p.envelopes.length };
      }
      return deliver(message, p.delivery, log.child({ target: p.delivery.target.name, idempotencyKey: p.delivery.request.idempotencyKey }));
    },
  };
}

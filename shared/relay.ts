/**
 * The relay core for webhooks: route lookup, size limit, verification,
 * forwarding to every target of the route, and the answer to the sender.
 * No HTTP framework in here; see functions/webhook.ts for the adapter.
 */
import { randomUUID } from 'node:crypto';
import type { LoadedConfig } from './config/load.js';
import type { RouteConfig } from './config/schema.js';
import { RelayError } from './errors.js';
import { DEFAULT_FORWARDED, responseHeaders, senderHeaders } from './forward/headers.js';
import { clientOverFetch, deadlineSignal, forward, type ForwardDeps, type TargetResponse } from './forward/forward.js';
import type { Deadline } from './forward/deadline.js';
import { outboundRequests, type OutboundRequest } from './forward/outbound.js';
import { classify, type DeliveryResult } from './forward/policy.js';
import { resolveTargets, type ResolvedTarget } from './forward/targets.js';
import { errorResponse, json, routeNameOf, type RelayRequest, type RelayResponse } from './http.js';
import { silentLogger, traceFields, type LogFields, type Logger } from './log.js';
import { createGate, type Gate } from './admit.js';
import { createTargetGuards, type TargetGuards } from './forward/target-guard.js';
import { dedupeKey, deliverOnce, leaseFor } from './dedupe/dedupe.js';
import type { DedupeStore } from './dedupe/store.js';
import { forwardHeadersOf } from './verify/registry.js';
import { ReplayStore } from './verify/replay.js';
import { requestTraffic, sentTraffic } from './traffic.js';

import { acceptAsync } from './delivery/accept.js';

export { CONSUMER_HEADER } from './forward/headers.js';
import type { Publisher } from './pubsub/publisher.js';
import type { Settings } from './settings.js';

export interface RelayDeps extends ForwardDeps {
  logger?: Logger;
  /** Clock for verification, ms since the epoch; default Date.now. */
  now?: () => number;
  /** This instance's memory of delivered ids; default a new bounded store. */
  replay?: ReplayStore;
  /** Non-secret settings (project id for trace links, Google's certificates URL); see shared/settings.ts. Default: none set. */
  settings?: Partial<Pick<Settings, 'projectId' | 'googleCertsUrl'>>;
  /** Where `mode: async` routes publish; required only if such a route exists. */
  publisher?: Publisher;
  /** The config's targets with their audiences; default worked out from the config (pass one map to share it). */
  targets?: ReadonlyMap<string, ResolvedTarget>;
  /** Per-target circuits and caps, shared with the deliverer; default built from the config. */
  guards?: TargetGuards;
  /** Where routes with `dedupe:` reserve delivery ids; required only if such a route exists. */
  dedupeStore?: DedupeStore;
  /** Add request and sent headers and bodies to log lines (`logTraffic` setting, for the local inspector); default false. */
  logTraffic?: boolean;
}

interface CompiledRoute {
  name: string;
  config: RouteConfig;
  gate: Gate;
  allowHeaders: string[];
  /** The target of each `forward` entry, by index. */
  targets: ResolvedTarget[];
}

/** A route's answer for the sender, and whether every target took the event. */
type Outcome = { response: RelayResponse; delivered: boolean };

export interface Relay {
  handle(request: RelayRequest): Promise<RelayResponse>;
}

/** Builds the webhook relay from a loaded config. All per-route work that can be done once is done here. */
export function createRelay(loaded: LoadedConfig, deps: RelayDeps): Relay {
  const { config } = loaded;
  const logger = deps.logger ?? silentLogger;
  const now = deps.now ?? Date.now;
  const projectId = config.projectId ?? deps.settings?.projectId;
  const targets = deps.targets ?? resolveTargets(config.targets);
  const routes = new Map<string, CompiledRoute>();
  const replay = deps.replay ?? new ReplayStore();
  const guards = deps.guards ?? createTargetGuards(config.targets, { logger, now });
  const client = deps.client ?? clientOverFetch(deps.fetch);
  const context = { secret: (env: string) => loaded.secrets.get(env) ?? '', settings: { googleCertsUrl: deps.settings?.googleCertsUrl } };
  for (const [name, route] of Object.entries(config.routes)) {
    if (route.dedupe && !deps.dedupeStore) throw new Error(`routes.${name}.dedupe needs a de-duplication store, and none was given`);
    routes.set(name, {
      name,
      config: route,
      gate: createGate(name, route, context, replay),
      allowHeaders: [...new Set([...DEFAULT_FORWARDED, ...forwardHeadersOf(route.verify), ...route.forwardHeaders])],
      targets: route.forward.map((f) => targets.get(f.target)!),
    });
  }

  async function relayRoute(route: CompiledRoute, request: RelayRequest, log: Logger, outcome: LogFields): Promise<RelayResponse> {
    const declared = Number(request.headers['content-length']);
    if (declared > route.config.maxBodyBytes || request.rawBody.length > route.config.maxBodyBytes) {
      throw new RelayError('payload_too_large', `Body exceeds this route's limit of ${route.config.maxBodyBytes} bytes`);
    }
    const admitted = route.gate.admit(request, now(), log);
    // Awaited only when it is a promise (a verifier that fetches keys, a duplicate in flight): see Gate.admit.
    const admission = admitted instanceof Promise ? await admitted : admitted;
    if (admission.kind === 'answer') return admission.response;
    const { verified } = admission;
    const idempotencyKey = verified.deliveryId || randomUUID();
    const headers = senderHeaders(request.headers, route.allowHeaders, request);
    // Joins this request's line to its delivery lines (here and, for async routes, in the pubsub function).
    outcome.idempotencyKey = idempotencyKey;
    if (route.config.mode === 'async') {
      // Durable de-duplication across instances, on the sender's delivery id (after the in-memory first line above).
      // A duplicate gets the answer the in-memory replay memory gives: 200 `{duplicate: true}`, in either mode.
      // A call as it is when the route has no durable de-duplication, else once.
      const once = (call: () => Promise<Outcome>, signal: () => AbortSignal): Promise<Outcome> =>
        route.config.dedupe && verified.deliveryId
          ? onceAcrossInstances(route, route.config.dedupe, verified.deliveryId, call, signal(), log)
          : call();
      // No consumer in the envelope: a topic anyone with publish rights can write to cannot vouch for one.
      let accepted = false;
      try {
        const accept = async () => {
          const response = await acceptAsync(
            {
              publisher: deps.publisher,
              topic: config.pubsub.deliveryTopic,
              route: route.name,
              destinations: route.config.forward,
              headers,
              body: request.rawBody,
              query: request.query,
              eventKey: idempotencyKey,
              acceptedAt: new Date(now()),
              timeoutMs: route.config.deadlineMs,
            },
            log,
          );
          return { response, delivered: response.status >= 200 && response.status < 300 };
        };
        const { response, delivered: stored } = await once(accept, () => AbortSignal.timeout(route.config.deadlineMs));
        accepted = stored;
        return response;
      } finally {
        // Only a stored event counts as seen: a failed publish lets the sender's retry through.
        admission.settle(accepted);
      }
    }
    const deadline = deadlineSignal(route.config.deadlineMs);
    const started = performance.now();
    let delivered = false;
    try {
      const requests = outboundRequests(
        { headers, body: request.rawBody, query: request.query, eventKey: idempotencyKey, keys: 'event', consumer: verified.consumer },
        route.config.forward,
      );
      const sendAll = () => forwardAll(route, requests, deadline, log);
      const finish = (results: PromiseSettledResult<TargetResponse>[]): Outcome => {
        const sent = deps.logTraffic
          ? (i: number) => sentTraffic(requests[i]!.headers, route.targets[i]!.config.tokenHeader, requests[i]!.body)
          : undefined;
        const response = answer(route, results, log, outcome, { idempotencyKey, latencyMs: Math.round(performance.now() - started) }, sent);
        return { response, delivered: results.every((r) => classify(resultOf(r)) === 'deliver') };
      };
      // Awaited directly unless the route de-duplicates across instances: the common case adds no promise.
      const result =
        route.config.dedupe && verified.deliveryId
          ? await onceAcrossInstances(route, route.config.dedupe, verified.deliveryId, () => sendAll().then(finish), deadline.signal, log)
          : finish(await sendAll());
      delivered = result.delivered;
      const { response } = result;
      return response;
    } finally {
      admission.settle(delivered);
      deadline.clear();
    }
  }

  /**
   * Durable de-duplication across instances, on the sender's delivery id (after the in-memory first line). A
   * duplicate gets the answer the in-memory replay memory gives: 200 `{duplicate: true}`, in either mode.
   */
  async function onceAcrossInstances(
    route: CompiledRoute,
    dedupe: NonNullable<RouteConfig['dedupe']>,
    deliveryId: string,
    call: () => Promise<Outcome>,
    signal: AbortSignal,
    log: Logger,
  ): Promise<Outcome> {
    const result = await deliverOnce(
      {
        store: deps.dedupeStore!,
        key: dedupeKey('route', route.name, deliveryId),
        config: dedupe,
        leaseMs: leaseFor(route.config.deadlineMs),
        settlement: (r) => (r.delivered ? 'delivered' : 'released'),
        log,
        waitSignal: signal,
      },
      call,
    );
    if (result.kind === 'called') return result.value;
    if (result.kind === 'duplicate') {
      log.info('Duplicate delivery answered without forwarding (durable de-duplication)', { deliveryId });
      return { response: json(200, { duplicate: true, deliveryId }), delivered: true };
    }
    // In flight elsewhere (a route's key is never parked: a sync or accepting call has no dead-letter topic).
    throw new RelayError('delivery_in_progress', 'Another instance is delivering this event; retry later', {
      retryAfterSeconds: 1,
      details: { deliveryId },
    });
  }

  /** Every target of the route under its guard, within `deadline`, settled. */
  function forwardAll(
    route: CompiledRoute,
    requests: OutboundRequest[],
    deadline: Deadline,
    log: Logger,
  ): Promise<PromiseSettledResult<TargetResponse>[]> {
    return settleAll(
      requests.map((r, i) => {
        const target = route.targets[i]!;
        const logger = log.child({ target: target.name, idempotencyKey: r.idempotencyKey });
        return guards.run(
          target.name,
          (guarded) =>
            forward(
              { target, method: r.method, path: r.path, headers: r.headers, body: r.body },
              // The deps forward reads, not a spread of every relay dep on each request.
              { tokens: deps.tokens, now: deps.now, client: guarded.client, logger },
              guarded.deadline,
            ),
          { wait: true, deadline, route: route.name, client },
        );
      }),
    );
  }

  function answer(
    route: CompiledRoute,
    results: PromiseSettledResult<TargetResponse>[],
    log: Logger,
    outcome: LogFields,
    fields: { idempotencyKey: string; latencyMs: number },
    sent?: (index: number) => LogFields,
  ): RelayResponse {
    results.forEach((result, i) => {
      const target = route.targets[i]!.name;
      const traffic = sent?.(i);
      if (results.length === 1 && result.status === 'fulfilled' && result.value.status < 400) {
        // The common case gets one log line per request: the target's figures ride on "Request answered".
        // Set one by one (as Object.assign would) rather than through an object made for the purpose.
        outcome.target = target;
        outcome.targetStatus = result.value.status;
        outcome.attempts = result.value.attempts;
        outcome.idempotencyKey = fields.idempotencyKey;
        outcome.targetLatencyMs = fields.latencyMs;
        if (traffic) Object.assign(outcome, traffic);
      } else if (result.status === 'fulfilled') {
        const { status, attempts } = result.value;
        log.log(status < 400 ? 'INFO' : 'WARNING', 'Delivered to target', { target, status, attempts, ...fields, ...traffic });
      } else {
        log.error('Delivery to target failed', { target, error: result.reason, ...fields, ...traffic });
      }
    });
    if (results.length === 1) {
      const only = results[0]!;
      if (only.status === 'rejected') return errorResponse(only.reason);
      return { status: only.value.status, headers: responseHeaders(only.value.headers), body: only.value.body };
    }
    const summary = results.map((result, i) => ({
      target: route.targets[i]!.name,
      ...(result.status === 'fulfilled'
        ? { status: result.value.status }
        : { error: result.reason instanceof RelayError ? result.reason.code : 'internal' }),
    }));
    const allDelivered = results.every((r) => classify(resultOf(r)) === 'deliver');
    return allDelivered
      ? json(200, { delivered: summary })
      : json(502, { error: { code: 'partial_failure', message: 'Not every target accepted the delivery', results: summary } });
  }

  return {
    async handle(request) {
      const started = performance.now();
      const name = routeNameOf(request.path);
      const log = logger.child({ ...traceFields(request.headers, projectId), route: name });
      let response: RelayResponse;
      const outcome: LogFields = deps.logTraffic && name !== 'healthz' ? requestTraffic(request) : {};
      try {
        if (name === 'healthz') {
          response =
            request.method === 'GET' || request.method === 'HEAD'
              ? json(200, { status: 'ok' })
              : errorResponse(new RelayError('method_not_allowed', 'Use GET /healthz'), { allow: 'GET, HEAD' });
          return response;
        }
        const route = routes.get(name);
        if (!route) throw new RelayError('not_found', `No route named "${name}"`);
        if (request.method !== 'POST') {
          response = errorResponse(new RelayError('method_not_allowed', `Route "${name}" accepts POST only`), { allow: 'POST' });
        } else {
          response = await relayRoute(route, request, log, outcome);
        }
      } catch (error) {
        response = errorResponse(error);
        const severity = response.status >= 500 ? 'ERROR' : 'WARNING';
        // details are the error's non-secret facts (reason, timestamp, issues) for operators.
        log.log(severity, 'Request refused', { ...(error instanceof RelayError ? error.details : {}), status: response.status, error });
      }
      // Added to `outcome` (this request's own object) rather than spread into a copy: the same fields, in the same order.
      outcome.method = request.method;
      outcome.status = response.status;
      outcome.latencyMs = Math.round(performance.now() - started);
      log.info('Request answered', outcome);
      return response;
    },
  };
}

/**
 * `Promise.allSettled`, with the one-target case (the common one) settled by a single `then`: fewer promises per
 * request under the framework's domain (an async function with an await makes two).
 */
function settleAll<T>(promises: Promise<T>[]): Promise<PromiseSettledResult<T>[]> {
  if (promises.length !== 1) return Promise.allSettled(promises);
  return promises[0]!.then(
    (value): PromiseSettledResult<T>[] => [{ status: 'fulfilled', value }],
    (reason: unknown): PromiseSettledResult<T>[] => [{ status: 'rejected', reason }],
  );
}

/** A settled forward as the delivery policy reads it. */
function resultOf(settled: PromiseSettledResult<TargetResponse>): DeliveryResult {
  return settled.status === 'fulfilled' ? { status: settled.value.status } : { error: settled.reason };
}

/**
 * The relay core for webhooks: route lookup, size limit, verification,
 * forwarding to every target of the route, and the answer to the sender.
 * No HTTP framework in here; see functions/webhook.ts for the adapter.
 */
import { randomUUID } from 'node:crypto';
import type { LoadedConfig } from './config/load.js';
import type { RouteConfig } from './config/schema.js';
import { RelayError } from './errors.js';
import { DEFAULT_FORWARDED, outboundHeaders, responseHeaders } from './forward/headers.js';
import { deadlineSignal, forward, resolveTarget, type ForwardDeps, type ResolvedTarget, type TargetResponse } from './forward/forward.js';
import { errorResponse, json, type RelayRequest, type RelayResponse } from './http.js';
import { silentLogger, traceFields, type Logger } from './log.js';
import { createVerifier, forwardHeadersOf } from './verify/registry.js';
import type { Verifier } from './verify/scheme.js';
import { acceptAsync } from './delivery/accept.js';
import type { Publisher } from './pubsub/publisher.js';

export interface RelayDeps extends ForwardDeps {
  logger?: Logger;
  /** Clock for verification, ms since the epoch; default Date.now. */
  now?: () => number;
  /** Where `mode: async` routes publish; required only if such a route exists. */
  publisher?: Publisher;
}

interface CompiledRoute {
  name: string;
  config: RouteConfig;
  verifier: Verifier;
  allowHeaders: string[];
  forward: { target: ResolvedTarget; path: string; method: string }[];
}

export interface Relay {
  handle(request: RelayRequest): Promise<RelayResponse>;
}

/** Builds the webhook relay from a loaded config. All per-route work that can be done once is done here. */
export function createRelay(loaded: LoadedConfig, deps: RelayDeps): Relay {
  const { config } = loaded;
  const logger = deps.logger ?? silentLogger;
  const now = deps.now ?? Date.now;
  const projectId = config.projectId ?? process.env.GOOGLE_CLOUD_PROJECT ?? process.env.GCLOUD_PROJECT;
  const targets = new Map(Object.entries(config.targets).map(([name, t]) => [name, resolveTarget(name, t)]));
  const routes = new Map<string, CompiledRoute>();
  for (const [name, route] of Object.entries(config.routes)) {
    routes.set(name, {
      name,
      config: route,
      verifier: createVerifier(route.verify, { secret: (env) => loaded.secrets.get(env) ?? '' }),
      allowHeaders: [...new Set([...DEFAULT_FORWARDED, ...forwardHeadersOf(route.verify), ...route.forwardHeaders])],
      forward: route.forward.map((f) => ({ target: targets.get(f.target)!, path: f.path, method: f.method })),
    });
  }

  async function relayRoute(route: CompiledRoute, request: RelayRequest, log: Logger): Promise<RelayResponse> {
    const declared = Number(request.headers['content-length']);
    if (declared > route.config.maxBodyBytes || request.rawBody.length > route.config.maxBodyBytes) {
      throw new RelayError('payload_too_large', `Body exceeds this route's limit of ${route.config.maxBodyBytes} bytes`);
    }
    const verified = await route.verifier.verify({ headers: request.headers, rawBody: request.rawBody, now: now() });
    const idempotencyKey = verified.deliveryId || randomUUID();
    const headers = outboundHeaders(request.headers, route.allowHeaders, idempotencyKey, request);
    if (route.config.mode === 'async') {
      return acceptAsync({ publisher: deps.publisher, topic: config.pubsub.deliveryTopic, route: route.name, destinations: route.config.forward, headers, body: request.rawBody, query: request.query, eventKey: idempotencyKey, acceptedAt: new Date(now()) }, log);
    }
    const deadline = deadlineSignal(route.config.deadlineMs);
    try {
      const results = await Promise.allSettled(
        route.forward.map((f) =>
          forward(
            { target: f.target, method: f.method, path: f.path + request.query, headers, body: request.rawBody },
            { ...deps, logger: log.child({ target: f.target.name }) },
            deadline.signal,
          ),
        ),
      );
      return answer(route, results, log, idempotencyKey);
    } finally {
      deadline.clear();
    }
  }

  function answer(route: CompiledRoute, results: PromiseSettledResult<TargetResponse>[], log: Logger, idempotencyKey: string): RelayResponse {
    results.forEach((result, i) => {
      const target = route.forward[i]!.target.name;
      if (result.status === 'fulfilled') {
        const { status, attempts } = result.value;
        log.log(status < 400 ? 'INFO' : 'WARNING', 'Delivered to target', { target, status, attempts, idempotencyKey });
      } else {
        log.error('Delivery to target failed', { target, error: result.reason, idempotencyKey });
      }
    });
    if (results.length === 1) {
      const only = results[0]!;
      if (only.status === 'rejected') return errorResponse(only.reason);
      return { status: only.value.status, headers: responseHeaders(only.value.headers), body: only.value.body };
    }
    const summary = results.map((result, i) => ({
      target: route.forward[i]!.target.name,
      ...(result.status === 'fulfilled'
        ? { status: result.value.status }
        : { error: result.reason instanceof RelayError ? result.reason.code : 'internal' }),
    }));
    const allDelivered = results.every((r) => r.status === 'fulfilled' && r.value.status < 300);
    return allDelivered
      ? json(200, { delivered: summary })
      : json(502, { error: { code: 'partial_failure', message: 'Not every target accepted the delivery', results: summary } });
  }

  return {
    async handle(request) {
      const started = performance.now();
      const name = request.path.replace(/^\/+|\/+$/g, '');
      const log = logger.child({ ...traceFields(request.headers, projectId), route: name });
      let response: RelayResponse;
      try {
        if (name === 'healthz') {
          response = request.method === 'GET' || request.method === 'HEAD' ? json(200, { status: 'ok' }) : errorResponse(new RelayError('method_not_allowed', 'Use GET /healthz'), { allow: 'GET, HEAD' });
          return response;
        }
        const route = routes.get(name);
        if (!route) throw new RelayError('not_found', `No route named "${name}"`);
        if (request.method !== 'POST') {
          response = errorResponse(new RelayError('method_not_allowed', `Route "${name}" accepts POST only`), { allow: 'POST' });
        } else {
          response = await relayRoute(route, request, log);
        }
      } catch (error) {
        response = errorResponse(error);
        const severity = response.status >= 500 ? 'ERROR' : 'WARNING';
        log.log(severity, 'Request refused', { status: response.status, error });
      }
      log.info('Request answered', { method: request.method, status: response.status, latencyMs: Math.round(performance.now() - started) });
      return response;
    },
  };
}

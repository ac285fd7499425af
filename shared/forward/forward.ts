/**
 * Sends one delivery to one target with a fresh ID token, retrying with
 * p-retry: exponential backoff with jitter, `Retry-After` honoured (capped by
 * the policy), a per-attempt timeout and an overall deadline.
 */
import pRetry, { AbortError } from 'p-retry';
import type { RetryPolicy, TargetConfig } from '../config/schema.js';
import { RelayError } from '../errors.js';
import type { TokenCache } from '../identity/token-cache.js';
import { silentLogger, type Logger } from '../log.js';
import { parseRetryAfter } from './retry-after.js';

/** Statuses worth another attempt. */
export const RETRYABLE_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

export interface ResolvedTarget {
  name: string;
  config: TargetConfig;
  /** The audience ID tokens are minted for. */
  audience: string;
}

export interface Delivery {
  target: ResolvedTarget;
  method: string;
  /** Path (and query) appended to the target's base URL. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface TargetResponse {
  status: number;
  headers: Headers;
  body: Buffer;
  attempts: number;
}

export interface ForwardDeps {
  tokens: TokenCache;
  fetch?: typeof fetch;
  logger?: Logger;
  now?: () => number;
}

/** The audience for a target: its `audience`, else its URL's origin. */
export function resolveTarget(name: string, config: TargetConfig): ResolvedTarget {
  return { name, config, audience: config.audience ?? new URL(config.url).origin };
}

/** Joins a target's base URL and a route path without doubling or losing slashes. */
export function targetUrl(base: string, path: string): string {
  const url = new URL(base);
  const basePath = url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname;
  const [pathname, query] = path.split(/\?(.*)/s, 2) as [string, string | undefined];
  url.pathname = basePath + pathname;
  if (query !== undefined) url.search = query;
  return url.toString();
}

/** Minimum delay p-retry will wait before retry number `consumed + 1`. */
function minimumBackoff(policy: RetryPolicy, consumed: number): number {
  return Math.min(policy.minDelayMs * 2 ** consumed, policy.maxDelayMs);
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

class RetryableStatus extends RelayError {
  constructor(
    readonly response: TargetResponse,
    readonly retryAfterMs: number | undefined,
  ) {
    super('target_retryable_status', `Target answered ${response.status}`);
  }
}

class TokenRejected extends RelayError {
  constructor(readonly response: TargetResponse) {
    super('token_rejected', `Target refused the ID token (${response.status})`);
  }
}

/**
 * Delivers to the target before `deadline` (an AbortSignal whose reason is a
 * RelayError `deadline_exceeded`). Resolves with the target's last answer,
 * including non-2xx ones; rejects with a RelayError when no answer could be had
 * (`target_unreachable`, `token_unavailable`, `deadline_exceeded`).
 */
export async function forward(delivery: Delivery, deps: ForwardDeps, deadline: AbortSignal): Promise<TargetResponse> {
  const { target } = delivery;
  const policy = target.config.retry;
  const doFetch = deps.fetch ?? fetch;
  const logger = deps.logger ?? silentLogger;
  const url = targetUrl(target.config.url, delivery.path);
  let refreshedToken = false;

  const attempt = async (attemptNumber: number): Promise<TargetResponse> => {
    const token = await deps.tokens.get(target.audience);
    const signal = AbortSignal.any([deadline, AbortSignal.timeout(target.config.timeoutMs)]);
    const started = performance.now();
    let response: Response;
    let body: Buffer;
    try {
      response = await doFetch(url, {
        method: delivery.method,
        headers: { ...delivery.headers, [target.config.tokenHeader]: `Bearer ${token}` },
        body: delivery.method === 'GET' ? undefined : delivery.body,
        signal,
        redirect: 'manual',
      });
      body = Buffer.from(await response.arrayBuffer());
    } catch (error) {
      if (deadline.aborted) throw deadline.reason;
      const timedOut = signal.aborted;
      const reason = timedOut ? `no answer within ${target.config.timeoutMs} ms` : describeNetworkError(error);
      logger.warn('Target attempt failed', { target: target.name, attempt: attemptNumber, reason, latencyMs: Math.round(performance.now() - started) });
      throw new RelayError('target_unreachable', `Target ${target.name} could not be reached: ${reason}`, { cause: error });
    }
    const result: TargetResponse = { status: response.status, headers: response.headers, body, attempts: attemptNumber };
    const latencyMs = Math.round(performance.now() - started);
    if ((response.status === 401 || response.status === 403) && !refreshedToken) {
      refreshedToken = true;
      deps.tokens.invalidate(target.audience, token);
      logger.warn('Target refused the ID token; retrying once with a fresh one', { target: target.name, attempt: attemptNumber, status: response.status, latencyMs });
      throw new TokenRejected(result);
    }
    if (RETRYABLE_STATUSES.has(response.status)) {
      logger.warn('Target attempt failed', { target: target.name, attempt: attemptNumber, status: response.status, latencyMs });
      throw new RetryableStatus(result, parseRetryAfter(response.headers.get('retry-after'), deps.now?.() ?? Date.now()));
    }
    return result;
  };

  try {
    return await pRetry(attempt, {
      retries: policy.retries,
      minTimeout: policy.minDelayMs,
      maxTimeout: policy.maxDelayMs,
      factor: 2,
      randomize: true,
      signal: deadline,
      // A refused token is retried at once with a fresh token and does not use up the policy.
      shouldConsumeRetry: ({ error }) => !(error instanceof TokenRejected),
      shouldRetry: ({ error }) => error instanceof RelayError && error.retryable,
      async onFailedAttempt({ error, retriesLeft, retriesConsumed }) {
        if (!(error instanceof RetryableStatus) || error.retryAfterMs === undefined || retriesLeft <= 0) return;
        const wanted = Math.min(error.retryAfterMs, policy.maxDelayMs);
        // p-retry adds at least minimumBackoff on top; wait the rest of Retry-After here.
        const extra = wanted - minimumBackoff(policy, retriesConsumed);
        if (extra > 0) await abortableSleep(extra, deadline);
      },
    });
  } catch (error) {
    if (error instanceof RetryableStatus || error instanceof TokenRejected) return error.response;
    if (error instanceof RelayError) throw error;
    if (deadline.aborted && deadline.reason instanceof RelayError) throw deadline.reason;
    throw new RelayError('target_unreachable', `Target ${target.name} could not be reached`, { cause: error });
  }
}

function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : 'network error');
}

/**
 * An AbortSignal that fires after `ms` with a RelayError `deadline_exceeded`
 * as its reason. Call `clear()` when done so the timer does not linger.
 */
export function deadlineSignal(ms: number): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new RelayError('deadline_exceeded', `No answer from the target within the ${ms} ms deadline`)),
    ms,
  );
  timer.unref?.();
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

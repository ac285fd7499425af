/**
 * Sends one delivery to one target with a fresh ID token, retrying with
 * p-retry: exponential backoff with jitter, `Retry-After` honoured (capped by
 * the policy), a per-attempt timeout and an overall deadline.
 */
import pRetry from 'p-retry';
import type { RetryPolicy } from '../config/schema.js';
import { RelayError } from '../errors.js';
import type { TokenCache } from '../identity/token-cache.js';
import { silentLogger, type Logger } from '../log.js';
import { InvalidResponseError, RequestNotSendableError } from './http-fetch.js';
import { unsendableReason } from './limits.js';
import { isRetryableError, isRetryableStatus } from './policy.js';
import { parseRetryAfter } from './retry-after.js';
import type { ResolvedTarget } from './targets.js';

export { resolveTarget, type ResolvedTarget } from './targets.js';

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

/** Settles like `promise`, or rejects with the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Delivers to the target before `deadline` (an AbortSignal whose reason is a
 * RelayError `deadline_exceeded`). Resolves with the target's last answer,
 * including non-2xx ones; rejects with a RelayError when no answer could be had
 * (`target_unreachable`, `token_unavailable`, `deadline_exceeded`,
 * `target_invalid_response`, `request_not_sendable`).
 */
export async function forward(delivery: Delivery, deps: ForwardDeps, deadline: AbortSignal): Promise<TargetResponse> {
  const { target } = delivery;
  const policy = target.config.retry;
  const doFetch = deps.fetch ?? fetch;
  const logger = deps.logger ?? silentLogger;
  // Past these bounds a target refuses or resets the request, and a reset would look retryable: fail it once, here.
  const unsendable = unsendableReason(delivery.path, delivery.headers);
  if (unsendable) throw new RelayError('request_not_sendable', `The request for target ${target.name} cannot be sent: ${unsendable}`);
  const url = targetUrl(target.config.url, delivery.path);
  let refreshedToken = false;

  // The token fetch counts against the deadline too: a hanging metadata server must not outlast it.
  const token = () => untilAborted(deps.tokens.get(target.audience), deadline);

  const send = async (bearer: string, attemptNumber: number): Promise<TargetResponse> => {
    const signal = AbortSignal.any([deadline, AbortSignal.timeout(target.config.timeoutMs)]);
    const started = performance.now();
    try {
      const response = await doFetch(url, {
        method: delivery.method,
        headers: { ...delivery.headers, [target.config.tokenHeader]: `Bearer ${bearer}` },
        body: delivery.method === 'GET' ? undefined : delivery.body,
        signal,
        redirect: 'manual',
      });
      const body = Buffer.from(await response.arrayBuffer());
      return { status: response.status, headers: response.headers, body, attempts: attemptNumber };
    } catch (error) {
      if (deadline.aborted) throw deadline.reason;
      const latencyMs = Math.round(performance.now() - started);
      if (error instanceof RequestNotSendableError) {
        logger.error('Request cannot be sent to the target', { target: target.name, attempt: attemptNumber, error });
        throw new RelayError('request_not_sendable', `The request for target ${target.name} cannot be sent: a header holds characters HTTP does not allow`, { cause: error });
      }
      if (error instanceof InvalidResponseError) {
        // The target may already have acted on the request: do not send it again.
        logger.error('Target answer could not be read', { target: target.name, attempt: attemptNumber, reason: error.message, latencyMs });
        throw new RelayError('target_invalid_response', `Target ${target.name} sent an answer that cannot be used: ${error.message}`, { cause: error });
      }
      const reason = signal.aborted ? `no answer within ${target.config.timeoutMs} ms` : describeNetworkError(error);
      logger.warn('Target attempt failed', { target: target.name, attempt: attemptNumber, reason, latencyMs });
      throw new RelayError('target_unreachable', `Target ${target.name} could not be reached: ${reason}`, { cause: error });
    }
  };

  const attempt = async (attemptNumber: number): Promise<TargetResponse> => {
    const bearer = await token();
    let result = await send(bearer, attemptNumber);
    // 401: the token itself was refused (expired, revoked, wrong audience). Drop it and try once more at once with a
    // fresh one. A 403 means the identity lacks permission: a new token would not change that.
    if (result.status === 401 && !refreshedToken) {
      refreshedToken = true;
      deps.tokens.invalidate(target.audience, bearer);
      logger.warn('Target refused the ID token; retrying once with a fresh one', { target: target.name, attempt: attemptNumber, status: 401 });
      result = await send(await token(), attemptNumber);
    }
    if (isRetryableStatus(result.status)) {
      logger.warn('Target attempt failed', { target: target.name, attempt: attemptNumber, status: result.status });
      throw new RetryableStatus(result, parseRetryAfter(result.headers.get('retry-after'), deps.now?.() ?? Date.now()));
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
      shouldRetry: ({ error }) => isRetryableError(error),
      async onFailedAttempt({ error, retriesLeft, retriesConsumed }) {
        if (!(error instanceof RetryableStatus) || error.retryAfterMs === undefined || retriesLeft <= 0) return;
        const wanted = Math.min(error.retryAfterMs, policy.maxDelayMs);
        // p-retry adds at least minimumBackoff on top; wait the rest of Retry-After here.
        const extra = wanted - minimumBackoff(policy, retriesConsumed);
        if (extra > 0) await abortableSleep(extra, deadline);
      },
    });
  } catch (error) {
    if (error instanceof RetryableStatus) return error.response;
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

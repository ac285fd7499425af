/**
 * Sends one delivery to one target with a fresh ID token, retrying with
 * p-retry: exponential backoff with jitter, `Retry-After` honoured (capped by
 * the policy), a per-attempt timeout and an overall deadline.
 *
 * The common case does the least, because under the Functions Framework's
 * per-request `domain` every promise, timer and listener costs: the first
 * attempt runs without p-retry (engaged only after a retryable failure), a
 * cached token is read without waiting, the attempt timeout and the deadline
 * share one timer (see deadline.ts), and the answer is the client's small
 * {@link HttpAnswer}, not a web Response.
 */
import pRetry from 'p-retry';
import type { RetryPolicy } from '../config/schema.js';
import { RelayError } from '../errors.js';
import type { TokenCache } from '../identity/token-cache.js';
import { silentLogger, type Logger } from '../log.js';
import { Deadline } from './deadline.js';
import {
  AnswerHeaders,
  InvalidResponseError,
  RequestNotSendableError,
  type Cancellation,
  type HttpAnswer,
  type HttpClient,
} from './http-fetch.js';
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

/** The part of a header list the relay reads from an answer; web `Headers` has it too. */
export interface HeaderView {
  get(name: string): string | null;
  forEach(callback: (value: string, name: string) => void): void;
}

export interface TargetResponse {
  status: number;
  headers: HeaderView;
  body: Buffer;
  attempts: number;
}

export interface ForwardDeps {
  tokens: TokenCache;
  /** How attempts are sent (the relay passes its node:http client); default {@link fetch} through {@link clientOverFetch}. */
  client?: HttpClient;
  /** Used when no `client` is given; default the global fetch. */
  fetch?: typeof fetch;
  logger?: Logger;
  now?: () => number;
}

/** An {@link HttpClient} over a fetch function (the global one by default), for callers that hand in `fetch`. */
export function clientOverFetch(doFetch: typeof fetch = fetch): HttpClient {
  return {
    async send(url, request, cancellation) {
      const controller = new AbortController();
      if (cancellation) cancellation.cancel = (reason) => controller.abort(reason);
      try {
        const response = await doFetch(url, {
          method: request.method,
          headers: request.headers,
          body: request.body,
          signal: controller.signal,
          redirect: 'manual',
        });
        const body = Buffer.from(await response.arrayBuffer());
        const parsed: Record<string, string> = {};
        response.headers.forEach((value, name) => (parsed[name] = value));
        return { status: response.status, statusText: response.statusText, headers: new AnswerHeaders(parsed), body } satisfies HttpAnswer;
      } catch (error) {
        throw controller.signal.aborted ? controller.signal.reason : error;
      } finally {
        if (cancellation) cancellation.cancel = undefined;
      }
    },
  };
}

// The last join: a route forwards to the same base and path request after request, so the URL is parsed and
// rebuilt once, not per request.
let lastJoin = { base: '', path: '', url: '' };

/** Joins a target's base URL and a route path without doubling or losing slashes. */
export function targetUrl(base: string, path: string): string {
  if (base === lastJoin.base && path === lastJoin.path && lastJoin.url) return lastJoin.url;
  const url = joinUrl(base, path);
  lastJoin = { base, path, url };
  return url;
}

function joinUrl(base: string, path: string): string {
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

/** The reason an attempt is cancelled at its own timeout (not the deadline). */
class AttemptTimeout extends Error {
  override name = 'AttemptTimeout';
}

/**
 * Delivers to the target before `deadline` (a {@link Deadline}, or an
 * AbortSignal whose reason is a RelayError `deadline_exceeded`). Resolves
 * with the target's last answer, including non-2xx ones; rejects with a
 * RelayError when no answer could be had (`target_unreachable`,
 * `token_unavailable`, `deadline_exceeded`, `target_invalid_response`,
 * `request_not_sendable`).
 */
export async function forward(delivery: Delivery, deps: ForwardDeps, deadline: Deadline | AbortSignal): Promise<TargetResponse> {
  const budget = deadline instanceof Deadline ? deadline : Deadline.following(deadline);
  const { target } = delivery;
  const policy = target.config.retry;
  const client = deps.client ?? clientOverFetch(deps.fetch);
  const logger = deps.logger ?? silentLogger;
  // Past these bounds a target refuses or resets the request, and a reset would look retryable: fail it once, here.
  const unsendable = unsendableReason(delivery.path, delivery.headers);
  if (unsendable) throw new RelayError('request_not_sendable', `The request for target ${target.name} cannot be sent: ${unsendable}`);
  const url = targetUrl(target.config.url, delivery.path);
  const body = delivery.method === 'GET' ? undefined : delivery.body;
  let refreshedToken = false;

  // A cached token is used at once; a fetch counts against the deadline too: a hanging metadata server must not outlast it.
  const waitForToken = (): Promise<string> => {
    budget.arm();
    return untilAborted(deps.tokens.get(target.audience), budget.signal);
  };

  const send = async (bearer: string, attemptNumber: number): Promise<TargetResponse> => {
    if (budget.expired) throw budget.reason;
    const started = performance.now();
    const cancellation: Cancellation = {};
    let timedOut = false;
    const release = budget.bound(target.config.timeoutMs, (why) => {
      timedOut = why === 'timeout';
      cancellation.cancel?.(timedOut ? new AttemptTimeout(`no answer within ${target.config.timeoutMs} ms`) : budget.reason);
    });
    try {
      const answer = await client.send(
        url,
        { method: delivery.method, headers: { ...delivery.headers, [target.config.tokenHeader]: bearerValue(bearer) }, body },
        cancellation,
      );
      return { status: answer.status, headers: answer.headers, body: answer.body, attempts: attemptNumber };
    } catch (error) {
      if (budget.expired) throw budget.reason;
      const latencyMs = Math.round(performance.now() - started);
      if (error instanceof RequestNotSendableError) {
        logger.error('Request cannot be sent to the target', { target: target.name, attempt: attemptNumber, error });
        throw new RelayError(
          'request_not_sendable',
          `The request for target ${target.name} cannot be sent: a header holds characters HTTP does not allow`,
          { cause: error },
        );
      }
      if (error instanceof InvalidResponseError) {
        // The target may already have acted on the request: do not send it again.
        logger.error('Target answer could not be read', { target: target.name, attempt: attemptNumber, reason: error.message, latencyMs });
        throw new RelayError('target_invalid_response', `Target ${target.name} sent an answer that cannot be used: ${error.message}`, {
          cause: error,
        });
      }
      const reason = timedOut ? `no answer within ${target.config.timeoutMs} ms` : describeNetworkError(error);
      logger.warn('Target attempt failed', { target: target.name, attempt: attemptNumber, reason, latencyMs });
      throw new RelayError('target_unreachable', `Target ${target.name} could not be reached: ${reason}`, { cause: error });
    } finally {
      release();
    }
  };

  const attempt = async (attemptNumber: number): Promise<TargetResponse> => {
    const bearer = deps.tokens.peek?.(target.audience) ?? (await waitForToken());
    let result = await send(bearer, attemptNumber);
    // 401: the token itself was refused (expired, revoked, wrong audience). Drop it and try once more at once with a
    // fresh one. A 403 means the identity lacks permission: a new token would not change that.
    if (result.status === 401 && !refreshedToken) {
      refreshedToken = true;
      deps.tokens.invalidate(target.audience, bearer);
      logger.warn('Target refused the ID token; retrying once with a fresh one', {
        target: target.name,
        attempt: attemptNumber,
        status: 401,
      });
      result = await send(await waitForToken(), attemptNumber);
    }
    if (isRetryableStatus(result.status)) {
      logger.warn('Target attempt failed', { target: target.name, attempt: attemptNumber, status: result.status });
      throw new RetryableStatus(result, parseRetryAfter(result.headers.get('retry-after'), deps.now?.() ?? Date.now()));
    }
    return result;
  };

  let first: unknown;
  try {
    return await attempt(1);
  } catch (error) {
    first = error;
  }
  try {
    if (policy.retries === 0 || !isRetryableError(first)) throw first;
    // p-retry takes over from the second attempt: it is handed the first attempt's failure as its own first, so
    // backoff, Retry-After and the retry count are exactly as if it had run every attempt.
    budget.arm();
    let replayed = false;
    return await pRetry(
      (attemptNumber) => {
        if (!replayed) {
          replayed = true;
          throw first;
        }
        return attempt(attemptNumber);
      },
      {
        retries: policy.retries,
        minTimeout: policy.minDelayMs,
        maxTimeout: policy.maxDelayMs,
        factor: 2,
        randomize: true,
        signal: budget.signal,
        shouldRetry: ({ error }) => isRetryableError(error),
        async onFailedAttempt({ error, retriesLeft, retriesConsumed }) {
          if (!(error instanceof RetryableStatus) || error.retryAfterMs === undefined || retriesLeft <= 0) return;
          const wanted = Math.min(error.retryAfterMs, policy.maxDelayMs);
          // p-retry adds at least minimumBackoff on top; wait the rest of Retry-After here.
          const extra = wanted - minimumBackoff(policy, retriesConsumed);
          if (extra > 0) await abortableSleep(extra, budget.signal);
        },
      },
    );
  } catch (error) {
    if (error instanceof RetryableStatus) return error.response;
    if (error instanceof RelayError) throw error;
    if (budget.expired && budget.reason instanceof RelayError) throw budget.reason;
    throw new RelayError('target_unreachable', `Target ${target.name} could not be reached`, { cause: error });
  }
}

// The last token's header value: a cached ID token (about 1 KB) is the same string request after request, so its
// `Bearer …` value is made once rather than copied for every attempt.
let lastToken: string | undefined;
let lastBearer = '';

/** `Bearer <token>`, remembered for the last token seen. */
function bearerValue(token: string): string {
  if (token !== lastToken) {
    lastToken = token;
    lastBearer = `Bearer ${token}`;
  }
  return lastBearer;
}

function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : 'network error');
}

/**
 * A request deadline `ms` from now: a {@link Deadline}, whose `signal` fires
 * with a RelayError `deadline_exceeded` as its reason. Pass the deadline
 * itself to {@link forward} (its timer starts only when something waits);
 * call `clear()` when done so the timer does not linger.
 */
export function deadlineSignal(ms: number): Deadline {
  return new Deadline(ms);
}

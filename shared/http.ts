/**
 * The relay's transport-neutral request and response: adapters in
 * `functions/` turn framework requests into these and back.
 */
import type { HeaderMap } from './verify/scheme.js';
import { RelayError, toErrorResponse } from './errors.js';

export interface RelayRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Query string including "?", or "". */
  query: string;
  headers: HeaderMap;
  rawBody: Buffer;
  remoteAddress?: string;
  protocol?: string;
}

export interface RelayResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer | string;
}

/** Longest request target (path and query) the relay reads; longer ones are refused with 414 before any other work. */
export const MAX_REQUEST_TARGET = 2048;

/**
 * Splits an HTTP request target into path and query in one linear pass,
 * the one reading every part of the relay uses (body limits, routing, the
 * query passed on). Origin form `/github?x=1`, absolute form
 * `http://host/github` and a stray fragment `/github#x` all give path
 * `/github`. Returns undefined when the target is longer than `max`.
 */
export function splitTarget(url: string, max = MAX_REQUEST_TARGET): { path: string; query: string } | undefined {
  if (url.length > max) return undefined;
  let start = 0;
  if (url.charCodeAt(0) !== 47 /* / */) {
    // Absolute form: skip "scheme://authority"; a target without "/" after it is the root.
    const scheme = url.indexOf('://');
    if (scheme > 0) {
      const slash = url.indexOf('/', scheme + 3);
      start = slash < 0 ? url.length : slash;
    }
  }
  let end = url.indexOf('#', start);
  if (end < 0) end = url.length;
  const queryAt = url.indexOf('?', start);
  const pathEnd = queryAt >= 0 && queryAt < end ? queryAt : end;
  const path = start === pathEnd ? '/' : url.slice(start, pathEnd);
  return { path, query: pathEnd < end ? url.slice(pathEnd, end) : '' };
}

/** The route a request path names: `/github`, `//github/` and `/github/` all name `github`. Linear in the path's length. */
export function routeNameOf(path: string): string {
  let start = 0;
  let end = path.length;
  while (start < end && path.charCodeAt(start) === 47) start++;
  while (end > start && path.charCodeAt(end - 1) === 47) end--;
  return path.slice(start, end);
}

/** A JSON answer. */
export function json(status: number, value: unknown, headers: Record<string, string> = {}): RelayResponse {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: JSON.stringify(value) };
}

/** The JSON error answer for any thrown value: `{error: {code, message}}`, never a stack. */
export function errorResponse(error: unknown, headers: Record<string, string> = {}): RelayResponse {
  const { status, body } = toErrorResponse(error);
  const retryAfter: Record<string, string> =
    error instanceof RelayError && error.retryAfterSeconds !== undefined
      ? { 'retry-after': String(Math.max(1, error.retryAfterSeconds)) }
      : {};
  return json(status, body, { ...retryAfter, ...headers });
}

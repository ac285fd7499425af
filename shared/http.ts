/**
 * The relay's transport-neutral request and response: adapters in
 * `functions/` turn framework requests into these and back.
 */
import type { HeaderMap } from './verify/scheme.js';
import { toErrorResponse } from './errors.js';

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

/** The route a request path names: `/github`, `//github/` and `/github/` all name `github`. */
export function routeNameOf(path: string): string {
  return path.replace(/^\/+|\/+$/g, '');
}

/** A JSON answer. */
export function json(status: number, value: unknown, headers: Record<string, string> = {}): RelayResponse {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: JSON.stringify(value) };
}

/** The JSON error answer for any thrown value: `{error: {code, message}}`, never a stack. */
export function errorResponse(error: unknown, headers: Record<string, string> = {}): RelayResponse {
  const { status, body } = toErrorResponse(error);
  return json(status, body, headers);
}

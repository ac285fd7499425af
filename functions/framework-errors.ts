/**
 * The Functions Framework parses bodies (JSON, text, form) before our handler
 * runs, and hands parse failures to Express's default final handler, which
 * answers in HTML and, outside NODE_ENV=production, with a stack trace. The
 * relay promises a JSON error body for every bad input, so this module gives
 * the framework's Express app a final handler that answers
 * `{error: {code, message}}` instead. It must be imported before the
 * framework builds its server; functions/index.ts imports it first.
 */
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorResponse } from '../shared/http.js';
import { RelayError, type ErrorCode } from '../shared/errors.js';

interface BodyParserError {
  status?: number;
  statusCode?: number;
  type?: string;
}

const BY_TYPE: Record<string, [ErrorCode, string]> = {
  'entity.parse.failed': ['bad_request', 'Body cannot be parsed as its Content-Type says'],
  'entity.too.large': ['payload_too_large', 'Body is too large'],
  'entity.verify.failed': ['bad_request', 'Body was rejected'],
  'encoding.unsupported': ['unsupported_media_type', 'Unsupported Content-Encoding'],
  'charset.unsupported': ['unsupported_media_type', 'Unsupported charset'],
  'request.aborted': ['bad_request', 'Request aborted'],
  'request.size.invalid': ['bad_request', 'Body length does not match Content-Length'],
  'stream.encoding.set': ['internal', 'Internal error'],
};

/** Maps an error reaching Express's final handler to the relay's JSON error. */
export function frameworkErrorToRelayError(error: unknown): RelayError {
  const e = (error ?? {}) as BodyParserError;
  const mapped = e.type ? BY_TYPE[e.type] : undefined;
  if (mapped) return new RelayError(mapped[0], mapped[1]);
  const status = e.status ?? e.statusCode;
  if (status === 413) return new RelayError('payload_too_large', 'Body is too large');
  if (status === 415) return new RelayError('unsupported_media_type', 'Unsupported media type');
  if (status !== undefined && status >= 400 && status < 500) return new RelayError('bad_request', 'Bad request');
  return new RelayError('internal', 'Internal error');
}

function finalHandler(req: IncomingMessage, res: ServerResponse) {
  return (error?: unknown) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const response = error
      ? errorResponse(frameworkErrorToRelayError(error))
      : errorResponse(new RelayError('not_found', `Cannot ${req.method} ${req.url}`));
    res.statusCode = response.status;
    for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
    // Drain what is left of the body so the connection can be reused.
    req.resume();
    res.end(response.body);
  };
}

let installed = false;

/** Largest body accepted for a request path, or undefined when unknown. */
export type BodyLimit = (path: string) => number | undefined;
let bodyLimit: BodyLimit | undefined;

/**
 * Lets the patched `handle` refuse a body whose declared Content-Length is
 * over the route's limit before the framework's body parser (limit 1024mb)
 * reads it. Chunked bodies without Content-Length are still read, then
 * refused by the relay core. Returns the previous limit (for tests).
 */
export function setEarlyBodyLimit(limit: BodyLimit | undefined): BodyLimit | undefined {
  const previous = bodyLimit;
  bodyLimit = limit;
  return previous;
}

/** Answers 413 and closes the connection when the declared length is over the limit; true when it did. */
function refuseOversized(req: IncomingMessage, res: ServerResponse): boolean {
  const declared = Number(req.headers['content-length']);
  if (!bodyLimit || !Number.isFinite(declared)) return false;
  // The raw path, as Express will route it: new URL() would read `//github` as a host, not a path.
  const limit = bodyLimit((req.url ?? '/').split('?')[0]!);
  if (limit === undefined || declared <= limit) return false;
  const response = errorResponse(new RelayError('payload_too_large', `Body exceeds this route's limit of ${limit} bytes`));
  res.statusCode = response.status;
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  // Never buffer it: discard what arrives (so the sender can read the answer
  // instead of hitting a reset) and close the connection afterwards.
  res.setHeader('connection', 'close');
  res.end(response.body);
  req.resume();
  return true;
}

/** Installs the JSON final handler on the Express used by the Functions Framework. Idempotent. */
export function installJsonFrameworkErrors(): void {
  if (installed) return;
  const require = createRequire(import.meta.url);
  const frameworkRequire = createRequire(require.resolve('@google-cloud/functions-framework'));
  const express = frameworkRequire('express') as { application: { handle: (...args: unknown[]) => unknown } };
  const original = express.application.handle;
  express.application.handle = function (this: unknown, req: IncomingMessage, res: ServerResponse, callback?: unknown) {
    if (refuseOversized(req, res)) return undefined;
    return original.call(this, req, res, callback ?? finalHandler(req, res));
  } as typeof original;
  installed = true;
}

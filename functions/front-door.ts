/**
 * The relay's front door inside the Functions Framework. The framework gives
 * no hook before its body parsers (each with a 1024mb limit, decoding gzip /
 * deflate / br before counting), so this guard wraps the `handle` of the
 * Express it uses and does the first work on every request itself:
 *
 * 1. the request target is split once, in linear time, and refused with 414
 *    past {@link MAX_REQUEST_TARGET};
 * 2. `/favicon.ico` and `/robots.txt` get the relay's JSON 404 (the framework
 *    would answer them in HTML);
 * 3. the body is read under the path's {@link BodyPolicy}: counted, capped,
 *    decoded only when the route opts in, within its time limit; refusals are
 *    JSON and close the connection;
 * 4. the exact bytes become `req.rawBody` and the request reaches the
 *    framework fully read, so its parsers skip it (they check `isFinished`);
 * 5. errors that still reach Express's final handler are answered in JSON.
 *
 * Express copies `handle` into each app it creates, so an app made while the
 * guard is installed keeps it after `uninstall()`: tests install, create a
 * server, uninstall. Pinned by test/integration/front-door-guard.test.ts to
 * the framework version below.
 */
import { createRequire } from 'node:module';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { RelayError } from '../shared/errors.js';
import { errorResponse, MAX_REQUEST_TARGET, routeNameOf, splitTarget, type RelayResponse } from '../shared/http.js';
import type { DoorPolicy } from '../shared/door/policy.js';
import { readBody } from '../shared/door/read-body.js';

/** The Functions Framework version whose Express pipeline this guard was written against. */
export const GUARDED_FRAMEWORK_VERSION = '5.0.5';

/**
 * After a refusal, how long the rest of a body is read and discarded (never
 * buffered) before the socket is destroyed. Closing at once would reset a
 * connection whose sender is still writing, and a reset can drop our answer
 * before the sender reads it; a second of discarding costs no memory.
 */
const LINGER_MS = 1000;

type Handle = (this: unknown, req: IncomingMessage, res: ServerResponse, callback?: (error?: unknown) => void) => unknown;
interface ExpressModule {
  application: { handle: Handle };
}
type FrameworkRequest = IncomingMessage & { rawBody?: Buffer; body?: unknown };

export interface FrontDoorOptions {
  policy: DoorPolicy;
  /** The Express module to guard; default the one the Functions Framework loads. */
  express?: ExpressModule;
}

/** The Express the installed Functions Framework resolves. */
export function frameworkExpress(): ExpressModule {
  const require = createRequire(import.meta.url);
  return createRequire(require.resolve('@google-cloud/functions-framework'))('express') as ExpressModule;
}

/** Installs the guard; returns the function that removes it (apps already created keep theirs). */
export function installFrontDoor(options: FrontDoorOptions): () => void {
  const express = options.express ?? frameworkExpress();
  const { policy } = options;
  const original = express.application.handle;
  const tuned = new WeakSet<Server>();

  function guarded(this: unknown, req: FrameworkRequest, res: ServerResponse, callback?: (error?: unknown) => void): unknown {
    tuneServer((req.socket as { server?: Server }).server, policy, tuned);
    const target = splitTarget(req.url ?? '/');
    if (!target) return refuse(req, res, new RelayError('uri_too_long', `Request target is longer than ${MAX_REQUEST_TARGET} characters`));
    const name = routeNameOf(target.path).toLowerCase();
    if (name === 'favicon.ico' || name === 'robots.txt') return refuse(req, res, new RelayError('not_found', `No route named "${name}"`));
    const body = policy.bodyFor(target.path);
    readBody(req, req.headers, body, (error, raw) => {
      if (error) return refuse(req, res, error);
      req.rawBody = raw;
      if (body.parse) {
        const parsed = parseForFramework(req.headers['content-type'], raw);
        if (parsed instanceof RelayError) return refuse(req, res, parsed);
        req.body = parsed;
      } else {
        req.body = raw;
      }
      original.call(this, req, res, callback ?? finalHandler(req, res));
    });
    return undefined;
  }

  express.application.handle = guarded as Handle;
  return () => {
    if (express.application.handle === (guarded as Handle)) express.application.handle = original;
  };
}

/** Sets Node's header and whole-request timeouts from the policy, once per server (the framework turns socket timeouts off). */
function tuneServer(server: Server | undefined, policy: DoorPolicy, tuned: WeakSet<Server>): void {
  if (!server || tuned.has(server)) return;
  tuned.add(server);
  server.headersTimeout = policy.headersTimeoutMs;
  server.requestTimeout = policy.requestTimeoutMs;
}

/**
 * What the framework's CloudEvent pipeline expects in `req.body`: JSON parsed
 * (any JSON value), text as a string, anything else as the bytes.
 */
export function parseForFramework(contentType: string | undefined, raw: Buffer): unknown {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' || type === 'application/cloudevents+json' || type.endsWith('+json')) {
    if (raw.length === 0) return undefined;
    try {
      return JSON.parse(raw.toString('utf8'));
    } catch {
      return new RelayError('bad_request', 'Body is not valid JSON');
    }
  }
  return type.startsWith('text/') ? raw.toString('utf8') : raw;
}

function send(res: ServerResponse, response: RelayResponse): void {
  res.statusCode = response.status;
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  res.end(response.body);
}

/**
 * A JSON refusal before the framework saw the request. The rest of the body is
 * discarded for at most {@link LINGER_MS} so the sender can read the answer,
 * then the connection is destroyed unless the request ended by then.
 */
function refuse(req: IncomingMessage, res: ServerResponse, error: RelayError): undefined {
  // Node would close a connection whose request is unread as soon as the answer is out: ask it not to, so the linger applies.
  if (!req.complete) res.setHeader('connection', 'keep-alive');
  send(res, errorResponse(error));
  if (req.complete) return undefined;
  req.resume();
  const linger = setTimeout(() => req.socket.destroy(), LINGER_MS).unref();
  req.once('end', () => clearTimeout(linger));
  return undefined;
}

/** An error Express passed on, as the relay's: a 4xx (e.g. a path that does not percent-decode) is a 400, the rest a bare 500. */
export function toRelayError(error: unknown): RelayError {
  if (error instanceof RelayError) return error;
  const status = Number((error as { status?: unknown; statusCode?: unknown })?.status ?? (error as { statusCode?: unknown })?.statusCode);
  return status >= 400 && status < 500 ? new RelayError('bad_request', 'Bad request') : new RelayError('internal', 'Internal error');
}

/** Express's final handler in JSON: anything no route answered, or an error a middleware passed on. */
function finalHandler(req: IncomingMessage, res: ServerResponse) {
  return (error?: unknown) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    send(res, errorResponse(error === undefined ? new RelayError('not_found', `Cannot ${req.method} this path`) : toRelayError(error)));
  };
}

/**
 * What a request may cost at the front door, decided from the config once at
 * start-up: for every path, how many body bytes may be read (and decoded), how
 * long the sender may take to send them, and which `Content-Encoding`s are
 * decoded. Paths that name no route get a small fixed allowance, so a stranger
 * who knows no route name cannot make the relay read more than that.
 */
import type { RelayConfig, ContentEncoding } from '../config/schema.js';
import { routeNameOf } from '../http.js';

export interface BodyPolicy {
  /** Largest body read, in bytes; after decoding when encoded. */
  maxBytes: number;
  /** Time from the request's arrival until its last body byte, ms. */
  timeoutMs: number;
  /** Encodings decoded; any other `Content-Encoding` is refused with 415. */
  encodings: readonly ContentEncoding[];
  /** Whether the Functions Framework needs `req.body` parsed (CloudEvents); webhooks read only the raw bytes. */
  parse: boolean;
}

export interface DoorPolicy {
  bodyFor(path: string): BodyPolicy;
  /** Node's `headersTimeout` for the server: time allowed to send the request line and headers. */
  headersTimeoutMs: number;
  /** Node's `requestTimeout`: a backstop above every body timeout (Node's own 408 is not JSON; ours comes first). */
  requestTimeoutMs: number;
}

/** Bytes allowed on `/healthz` and paths that name no route. */
export const SMALL_BODY_BYTES = 16 * 1024;
/** Time allowed for headers, and for the body of a path that names no route. */
export const SMALL_TIMEOUT_MS = 10_000;
/**
 * A Pub/Sub push carries at most a 10 MB message, base64-encoded inside JSON:
 * about 13.4 MB. Anything larger is not a push.
 */
export const PUSH_BODY_BYTES = 14 * 1024 * 1024;
const BACKSTOP_MS = 5_000;

const small: BodyPolicy = Object.freeze({ maxBytes: SMALL_BODY_BYTES, timeoutMs: SMALL_TIMEOUT_MS, encodings: [], parse: false });

/** The policy of the public `webhook` function: each route's `maxBodyBytes`, `deadlineMs` and `acceptEncodings`. */
export function webhookDoorPolicy(config: Pick<RelayConfig, 'routes'>): DoorPolicy {
  const byRoute = new Map<string, BodyPolicy>();
  for (const [name, route] of Object.entries(config.routes)) {
    byRoute.set(
      name,
      Object.freeze({ maxBytes: route.maxBodyBytes, timeoutMs: route.deadlineMs, encodings: route.acceptEncodings, parse: false }),
    );
  }
  const longest = Math.max(SMALL_TIMEOUT_MS, ...[...byRoute.values()].map((p) => p.timeoutMs));
  return {
    bodyFor: (path) => byRoute.get(routeNameOf(path)) ?? small,
    headersTimeoutMs: SMALL_TIMEOUT_MS,
    requestTimeoutMs: longest + BACKSTOP_MS,
  };
}

/** The policy of the `pubsub` function: one push-sized allowance for every path, bodies parsed for the framework. */
export function pubsubDoorPolicy(config: Pick<RelayConfig, 'pubsub'>): DoorPolicy {
  const timeoutMs = Math.max(SMALL_TIMEOUT_MS, config.pubsub.deliveryDeadlineMs);
  const push: BodyPolicy = Object.freeze({ maxBytes: PUSH_BODY_BYTES, timeoutMs, encodings: [], parse: true });
  return { bodyFor: () => push, headersTimeoutMs: SMALL_TIMEOUT_MS, requestTimeoutMs: timeoutMs + BACKSTOP_MS };
}

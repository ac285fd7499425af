/**
 * The relay's error vocabulary. Every failure the relay can report is a
 * {@link RelayError} with a stable `code`; the HTTP status it maps to and
 * whether it is worth retrying are decided here, once, for each code.
 */

/** Stable error codes, as they appear in JSON error bodies and log lines. */
export const ERROR_CODES = {
  bad_request: { status: 400, retryable: false },
  unauthorized: { status: 401, retryable: false },
  /** A signed timestamp (or token expiry) outside the route's tolerance: a stale or replayed request, or a skewed clock. */
  timestamp_out_of_tolerance: { status: 401, retryable: false },
  /** A consumer key past its expiry date. */
  credential_expired: { status: 401, retryable: false },
  not_found: { status: 404, retryable: false },
  method_not_allowed: { status: 405, retryable: false },
  /** The sender did not finish sending its body within the route's time limit. */
  request_timeout: { status: 408, retryable: false },
  payload_too_large: { status: 413, retryable: false },
  /** The request line's path and query are longer than the relay reads. */
  uri_too_long: { status: 414, retryable: false },
  unsupported_media_type: { status: 415, retryable: false },
  unprocessable: { status: 422, retryable: false },
  /** The body does not fit the route's payload contract; the answer lists the issues. */
  contract_violation: { status: 422, retryable: false },
  internal: { status: 500, retryable: false },
  /** The target could not be reached (connection refused or reset, DNS, per-attempt timeout). */
  target_unreachable: { status: 502, retryable: true },
  /** The target answered with a status worth retrying (408, 429, 5xx); carries the response. */
  target_retryable_status: { status: 502, retryable: true },
  /** The relay could not obtain an ID token for the target's audience. */
  token_unavailable: { status: 503, retryable: true },
  /** The target's answer could not be read (bad status line, undecodable or oversized body); not retried, it may have acted. */
  target_invalid_response: { status: 502, retryable: false },
  /** The outbound request cannot be sent as given (e.g. a header value HTTP does not allow); retrying cannot help. */
  request_not_sendable: { status: 502, retryable: false },
  /** The target is refused on this instance for now: its circuit is open or its `maxConcurrency` is reached; answered with `Retry-After`. */
  target_unavailable: { status: 503, retryable: true },
  /** Another instance is delivering the same event (durable `dedupe`) and had not finished within this request's deadline; answered with `Retry-After`. */
  delivery_in_progress: { status: 503, retryable: true },
  /** A dependency the relay needs (a secret, a publisher) is not available right now. */
  unavailable: { status: 503, retryable: true },
  /** The overall deadline passed before the target answered. */
  deadline_exceeded: { status: 504, retryable: false },
} as const satisfies Record<string, { status: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface RelayErrorOptions {
  cause?: unknown;
  /** Extra, non-secret facts for logs (never sent to the caller). */
  details?: Record<string, unknown>;
  /** Extra fields for the caller's error body (e.g. contract issues); never secrets. */
  expose?: Record<string, unknown>;
  /** When to try again, in seconds: sent as `Retry-After`. */
  retryAfterSeconds?: number;
}

/** An error with a stable code, the HTTP status it maps to, and whether to retry it. */
export class RelayError extends Error {
  override name = 'RelayError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  readonly expose: Record<string, unknown>;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: RelayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
    this.expose = options.expose ?? {};
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }
}

/** The error body every error answer carries: `{error: {code, message}}`. */
export interface ErrorBody {
  error: { code: string; message: string; [extra: string]: unknown };
}

/**
 * Turns any thrown value into the status and JSON body the caller sees.
 * Unknown errors become a generic 500 so nothing internal (stack, token) leaks.
 */
export function toErrorResponse(error: unknown): { status: number; body: ErrorBody } {
  if (error instanceof RelayError) {
    return { status: error.status, body: { error: { ...error.expose, code: error.code, message: error.message } } };
  }
  return { status: 500, body: { error: { code: 'internal', message: 'Internal error' } } };
}

/**
 * Turns an error thrown by google-auth-library (gaxios errors, OAuth error
 * answers, Node network errors) into an {@link IdentityError} whose message
 * says which credential was in use and what went wrong, without the request
 * (which may hold an assertion or a token).
 */
import { IdentityError, isTransientStatus } from './identity-error.js';

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

function networkCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
  }
  return undefined;
}

/** The HTTP status of a gaxios error, if the server answered. */
export function statusOf(error: unknown): number | undefined {
  const e = error as { status?: unknown; response?: { status?: unknown } };
  const status = e?.response?.status ?? e?.status;
  return typeof status === 'number' ? status : undefined;
}

function oauthDetail(error: unknown): string {
  const data = (error as { response?: { data?: unknown } })?.response?.data;
  if (data && typeof data === 'object') {
    const d = data as { error?: unknown; error_description?: unknown };
    if (typeof d.error === 'string') return `${d.error}${typeof d.error_description === 'string' ? `: ${d.error_description}` : ''}`;
    if (d.error && typeof d.error === 'object' && 'message' in d.error) return String((d.error as { message: unknown }).message);
  }
  const message = error instanceof Error ? error.message : String(error);
  // Keep the first line only; never echo bodies or requests.
  return message.split('\n')[0]!.slice(0, 300);
}

/** Wraps `error` as an IdentityError: "<what> failed for <credential>: <reason>". */
export function identityErrorFrom(error: unknown, what: string, credential: string): IdentityError {
  if (error instanceof IdentityError) return error;
  const status = statusOf(error);
  const code = networkCode(error);
  if (code) return new IdentityError(`${what} failed for ${credential}: endpoint unreachable (${code})`, true, error);
  if (status !== undefined) {
    return new IdentityError(`${what} failed for ${credential}: HTTP ${status}, ${oauthDetail(error)}`, isTransientStatus(status), error);
  }
  return new IdentityError(`${what} failed for ${credential}: ${oauthDetail(error)}`, false, error);
}

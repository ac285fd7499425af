/**
 * Failures to obtain an ID token. Every one is a RelayError `token_unavailable`
 * (HTTP 503) whose message names the credential found and what it lacks; the
 * ones that cannot heal by themselves (a missing grant, a wrong audience, an
 * expired subject token, a malformed credential file) are marked permanent so
 * the forwarder does not retry them: no retry storms against IAM or STS.
 */
import { RelayError } from '../errors.js';

export class IdentityError extends RelayError {
  override name = 'IdentityError';

  constructor(
    message: string,
    /** False when asking again cannot help until someone changes a grant or a file. */
    readonly transient: boolean,
    cause?: unknown,
  ) {
    super('token_unavailable', message, cause === undefined ? {} : { cause });
  }

  override get retryable(): boolean {
    return this.transient;
  }
}

/** HTTP statuses from Google's token endpoints that are worth asking again. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

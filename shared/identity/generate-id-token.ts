/**
 * The IAM Credentials `generateIdToken` call: with an OAuth access token of
 * some principal, ask for an ID token of a service account that principal may
 * impersonate. The only permission needed is `iam.serviceAccounts.getOpenIdToken`
 * on that service account (role Service Account OpenID Connect Identity Token
 * Creator). google-auth-library has no such step for external accounts, so the
 * relay makes the call itself, for impersonation and federation alike.
 */
import { IdentityError, isTransientStatus } from './identity-error.js';

export const DEFAULT_IAM_CREDENTIALS_ENDPOINT = 'https://iamcredentials.googleapis.com';

export interface GenerateIdTokenRequest {
  /** Base URL of the IAM Credentials API; default https://iamcredentials.googleapis.com. */
  endpoint?: string;
  serviceAccount: string;
  audience: string;
  /** The caller's OAuth access token (never logged). */
  accessToken: string;
  /** Delegation chain, each granted Token Creator on the next; default none. */
  delegates?: readonly string[];
  /** Describes the caller for error messages, e.g. "external_account credential file /x.json". */
  caller: string;
  fetch?: typeof fetch;
  /** Per-call timeout; default 10 s. */
  timeoutMs?: number;
}

/** Calls `projects/-/serviceAccounts/SA:generateIdToken` once and returns the token. */
export async function generateIdToken(request: GenerateIdTokenRequest): Promise<string> {
  const endpoint = (request.endpoint ?? DEFAULT_IAM_CREDENTIALS_ENDPOINT).replace(/\/+$/, '');
  const url = `${endpoint}/v1/projects/-/serviceAccounts/${encodeURIComponent(request.serviceAccount)}:generateIdToken`;
  const doFetch = request.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${request.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        audience: request.audience,
        delegates: (request.delegates ?? []).map((d) => `projects/-/serviceAccounts/${d}`),
        includeEmail: true,
      }),
      signal: AbortSignal.timeout(request.timeoutMs ?? 10_000),
    });
  } catch (error) {
    const reason = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw new IdentityError(
      `IAM Credentials at ${endpoint} could not be reached (${reason}) while ${request.caller} asked for an ID token of ${request.serviceAccount}`,
      true,
      error,
    );
  }
  const text = await response.text();
  if (!response.ok) {
    throw new IdentityError(describeFailure(response.status, text, request), isTransientStatus(response.status));
  }
  let token: unknown;
  try {
    token = (JSON.parse(text) as { token?: unknown }).token;
  } catch {
    token = undefined;
  }
  if (typeof token !== 'string' || token === '') {
    throw new IdentityError(`IAM Credentials at ${endpoint} answered without a token for ${request.serviceAccount}`, true);
  }
  return token;
}

function describeFailure(status: number, text: string, request: GenerateIdTokenRequest): string {
  let detail: string;
  try {
    detail = String((JSON.parse(text) as { error?: { message?: unknown } }).error?.message ?? '');
  } catch {
    detail = '';
  }
  const suffix = detail ? `: ${detail.slice(0, 300)}` : '';
  if (status === 403) {
    return `${request.caller} may not mint ID tokens for ${request.serviceAccount}; it lacks iam.serviceAccounts.getOpenIdToken on that service account (grant roles/iam.serviceAccountOpenIdTokenCreator)${suffix}`;
  }
  if (status === 401) return `IAM Credentials refused the access token of ${request.caller} (401)${suffix}`;
  if (status === 404) return `IAM Credentials does not know the service account ${request.serviceAccount} (404)${suffix}`;
  return `IAM Credentials answered ${status} to generateIdToken for ${request.serviceAccount} (caller: ${request.caller})${suffix}`;
}

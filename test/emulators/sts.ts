/**
 * A local Security Token Service (sts.googleapis.com/v1/token) for workload
 * identity federation. Like the real one for an OIDC provider, it accepts an
 * RFC 8693 token exchange only when `audience` names the configured pool
 * provider and the subject token verifies against the provider's JWKS, with
 * the provider's issuer, an allowed audience and an unexpired `exp`. It
 * answers with a federated access token for
 * `principal://iam.googleapis.com/<pool>/subject/<sub>`.
 */
import type { JsonWebKey } from 'node:crypto';
import { countInto, formOrJson, type AccessTokens } from './access-tokens.js';
import { listen, sendJson } from './http-util.js';
import { verifyJwt } from './jwt.js';

export interface StsOptions {
  tokens: AccessTokens;
  /** The provider resource, as in a credential file's `audience`: `//iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/X`. */
  providerAudience: string;
  issuer: string;
  keys: () => readonly JsonWebKey[];
  /** Audiences accepted in subject tokens; default the provider's https:// form. */
  allowedAudiences?: string[];
}

export interface Sts {
  url: string;
  /** Value for a credential file's `token_url`. */
  tokenUrl: string;
  /** Exchanges attempted, by outcome ("ok" or the error). */
  exchanges: Map<string, number>;
  total(): number;
  /** Makes the next `count` exchanges answer `status`. */
  failNext(count: number, status?: number): void;
  close(): Promise<void>;
}

/** The principal STS issues tokens for, given a pool provider and a subject. */
export function federatedPrincipal(providerAudience: string, subject: string): string {
  const pool = providerAudience.replace(/^\/\/iam\.googleapis\.com\//, '').replace(/\/providers\/[^/]+$/, '');
  return `principal://iam.googleapis.com/${pool}/subject/${subject}`;
}

export async function startSts(options: StsOptions): Promise<Sts> {
  const exchanges = new Map<string, number>();
  const allowed = options.allowedAudiences ?? [`https:${options.providerAudience}`];
  let failures = 0;
  let failStatus = 503;
  const server = await listen((req, res, body) => {
    if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://sts').pathname !== '/v1/token')
      return sendJson(res, 404, { error: 'not_found' });
    const refuse = (status: number, error: string, description: string) => {
      countInto(exchanges, error);
      sendJson(res, status, { error, error_description: description });
    };
    if (failures > 0) {
      failures--;
      return refuse(failStatus, 'temporarily_unavailable', 'emulated failure');
    }
    const form = formOrJson(body, req.headers['content-type']);
    if (form.grant_type !== 'urn:ietf:params:oauth:grant-type:token-exchange')
      return refuse(400, 'unsupported_grant_type', `unexpected grant_type ${form.grant_type}`);
    if (form.audience !== options.providerAudience)
      return refuse(400, 'invalid_target', `The target service indicated by the "audience" parameters is invalid: ${form.audience}`);
    if (!form.subject_token) return refuse(400, 'invalid_request', 'subject_token is required');
    let claims: Record<string, unknown>;
    try {
      claims = verifyJwt(form.subject_token, { keys: options.keys(), audience: allowed, issuers: [options.issuer], skewSeconds: 0 });
    } catch (error) {
      return refuse(400, 'invalid_grant', `The subject token is invalid: ${(error as Error).message}`);
    }
    countInto(exchanges, 'ok');
    const issued = options.tokens.issue(federatedPrincipal(options.providerAudience, String(claims.sub)));
    sendJson(res, 200, { ...issued, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' });
  });
  return {
    url: server.url,
    tokenUrl: `${server.url}/v1/token`,
    exchanges,
    total: () => [...exchanges.values()].reduce((a, b) => a + b, 0),
    failNext(count, status = 503) {
      failures = count;
      failStatus = status;
    },
    close: server.close,
  };
}

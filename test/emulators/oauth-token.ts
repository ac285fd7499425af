/**
 * A local stand-in for Google's OAuth token endpoint
 * (https://oauth2.googleapis.com/token) for service account key files: it
 * takes a JWT-bearer assertion signed with a registered key, checks its
 * signature, issuer, audience and expiry, and answers with an `id_token` when
 * the assertion carries `target_audience`, else an access token.
 */
import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { countInto, formOrJson, mintGoogleIdToken, type AccessTokens } from './access-tokens.js';
import { listen, sendJson } from './http-util.js';
import { verifyJwt, type SigningKey } from './jwt.js';

const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

export interface OAuthTokenEndpoint {
  url: string;
  /** Creates a service account with a fresh key and returns its key file JSON. */
  createKey(email: string): Record<string, string>;
  /** Revokes every key of `email`. */
  deleteKeys(email: string): void;
  /** ID token exchanges served, per target audience. */
  idTokenRequests: Map<string, number>;
  accessTokenRequests: number;
  issued: string[];
  close(): Promise<void>;
}

export async function startOAuthTokenEndpoint(options: { key: SigningKey; tokens: AccessTokens }): Promise<OAuthTokenEndpoint> {
  const publicKeys = new Map<string, JsonWebKey>();
  const idTokenRequests = new Map<string, number>();
  const issued: string[] = [];
  let accessTokenRequests = 0;
  const server = await listen((req, res, body) => {
    const form = formOrJson(body, req.headers['content-type']);
    if (form.grant_type !== 'urn:ietf:params:oauth:grant-type:jwt-bearer' || !form.assertion) {
      return sendJson(res, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' });
    }
    const iss = (() => {
      try {
        return String(JSON.parse(Buffer.from(form.assertion.split('.')[1] ?? '', 'base64url').toString()).iss);
      } catch {
        return '';
      }
    })();
    const jwk = publicKeys.get(iss);
    if (!jwk) return sendJson(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    let claims: Record<string, unknown>;
    try {
      // Match the registered key by issuer, whatever kid (if any) the assertion's header names.
      const kid = (JSON.parse(Buffer.from(form.assertion.split('.')[0] ?? '', 'base64url').toString()) as { kid?: string }).kid;
      claims = verifyJwt(form.assertion, {
        keys: [{ ...jwk, kid } as JsonWebKey],
        audience: GOOGLE_TOKEN_URL,
        issuers: [iss],
      });
    } catch (error) {
      return sendJson(res, 400, { error: 'invalid_grant', error_description: `Invalid JWT: ${(error as Error).message}` });
    }
    if (typeof claims.target_audience === 'string') {
      countInto(idTokenRequests, claims.target_audience);
      const id_token = mintGoogleIdToken(options.key, iss, claims.target_audience);
      issued.push(id_token);
      return sendJson(res, 200, { id_token });
    }
    accessTokenRequests++;
    return sendJson(res, 200, options.tokens.issue(iss));
  });
  return {
    url: server.url,
    createKey(email) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      publicKeys.set(email, publicKey.export({ format: 'jwk' }));
      return {
        type: 'service_account',
        project_id: 'local-project',
        private_key_id: `key-${email.split('@')[0]}`,
        private_key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
        client_email: email,
        client_id: '100000000000000000002',
        token_uri: GOOGLE_TOKEN_URL,
      };
    },
    deleteKeys(email) {
      publicKeys.delete(email);
    },
    idTokenRequests,
    get accessTokenRequests() {
      return accessTokenRequests;
    },
    issued,
    close: server.close,
  };
}

/**
 * A local OpenID Connect identity provider standing in for the "other side"
 * of workload identity federation (GitHub Actions, Kubernetes, another
 * cloud): it signs subject tokens with its own key, publishes them at
 * `/token` for URL-sourced credentials, and its keys at `/jwks`.
 */
import { randomUUID } from 'node:crypto';
import { countInto } from './access-tokens.js';
import { listen, sendJson } from './http-util.js';
import { generateSigningKey, signJwt, type SigningKey } from './jwt.js';

export interface OidcProvider {
  url: string;
  issuer: string;
  key: SigningKey;
  /** Signs a subject token; `ttlSeconds` may be negative for an expired one. */
  mint(options: { subject?: string; audience: string; ttlSeconds?: number }): string;
  /** What GET /token serves (JSON `{id_token}`); set by the test. */
  serve(token: string): void;
  /** GET /token requests served. */
  tokenRequests: Map<string, number>;
  close(): Promise<void>;
}

export async function startOidcProvider(): Promise<OidcProvider> {
  const key = generateSigningKey();
  let served = '';
  const tokenRequests = new Map<string, number>();
  const server = await listen((req, res) => {
    const path = new URL(req.url ?? '/', 'http://idp').pathname;
    if (path === '/jwks') return sendJson(res, 200, { keys: [key.jwk] });
    if (path === '/.well-known/openid-configuration') return sendJson(res, 200, { issuer: server.url, jwks_uri: `${server.url}/jwks` });
    if (path === '/token') {
      countInto(tokenRequests, String(req.headers['metadata'] ?? 'no-header'));
      return served ? sendJson(res, 200, { id_token: served }) : sendJson(res, 404, { error: 'no token configured' });
    }
    return sendJson(res, 404, { error: 'not found' });
  });
  return {
    url: server.url,
    issuer: server.url,
    key,
    mint({ subject = 'repo:acme/app:ref:refs/heads/main', audience, ttlSeconds = 600 }) {
      const iat = Math.floor(Date.now() / 1000);
      return signJwt(key, {
        iss: server.url,
        sub: subject,
        aud: audience,
        iat: ttlSeconds < 0 ? iat + ttlSeconds - 60 : iat,
        exp: iat + ttlSeconds,
        jti: randomUUID(),
      });
    },
    serve(token) {
      served = token;
    },
    tokenRequests,
    close: server.close,
  };
}

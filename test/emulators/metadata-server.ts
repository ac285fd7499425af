/**
 * A local stand-in for the GCE/Cloud Functions metadata server. It mints
 * RS256 ID tokens for any audience, as the real one does for the runtime
 * service account, and publishes its keys as a JWKS so targets can verify
 * them. Point google-auth-library at it with GCE_METADATA_HOST=127.0.0.1:PORT.
 */
import { createPublicKey, randomUUID } from 'node:crypto';
import { generateSigningKey, signJwt, type SigningKey } from './jwt.js';
import type { AccessTokens } from './access-tokens.js';
import { listen, sendJson } from './http-util.js';

export const EMULATOR_ISSUER = 'https://accounts.google.com';

export interface MetadataServerOptions {
  port?: number;
  serviceAccount?: string;
  projectId?: string;
  /** Token lifetime in seconds; default 3600 as Google's. */
  ttlSeconds?: number;
  key?: SigningKey;
  now?: () => number;
  /** Serves OAuth access tokens for the service account from this registry (impersonation tests). */
  tokens?: AccessTokens;
}

export interface MetadataServer {
  url: string;
  /** host:port, the value for GCE_METADATA_HOST. */
  host: string;
  jwksUrl: string;
  /** Google's PEM certificate endpoint shape; set RELAY_GOOGLE_CERTS_URL to it. */
  pemCertsUrl: string;
  /** How many times the PEM certificates were fetched. */
  certRequests(): number;
  key: SigningKey;
  serviceAccount: string;
  /** Identity (ID token) requests served, per audience. */
  identityRequests: Map<string, number>;
  /** Every ID token handed out, so tests can prove none leaks. */
  issued: string[];
  totalIdentityRequests(): number;
  /** Makes the next `count` identity requests fail with `status`. */
  failNext(count: number, status?: number): void;
  /** Adds latency to identity requests. */
  setDelay(ms: number): void;
  mint(audience: string, overrides?: Record<string, unknown>): string;
  close(): Promise<void>;
}

export async function startMetadataServer(options: MetadataServerOptions = {}): Promise<MetadataServer> {
  const key = options.key ?? generateSigningKey();
  const serviceAccount = options.serviceAccount ?? 'relay@local-project.iam.gserviceaccount.com';
  const projectId = options.projectId ?? 'local-project';
  const ttl = options.ttlSeconds ?? 3600;
  const now = options.now ?? Date.now;
  const identityRequests = new Map<string, number>();
  const issued: string[] = [];
  let failures = 0;
  let failStatus = 500;
  let delayMs = 0;
  let certRequests = 0;

  const mint = (audience: string, overrides: Record<string, unknown> = {}) => {
    const iat = Math.floor(now() / 1000);
    return signJwt(key, {
      iss: EMULATOR_ISSUER,
      aud: audience,
      azp: '100000000000000000001',
      sub: '100000000000000000001',
      email: serviceAccount,
      email_verified: true,
      iat,
      exp: iat + ttl,
      jti: randomUUID(),
      ...overrides,
    });
  };

  const server = await listen(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://metadata');
    if (url.pathname === '/oauth2/v3/certs' || url.pathname === '/jwks') return sendJson(res, 200, { keys: [key.jwk] });
    // Google's PEM form (what google-auth-library fetches on Node), for verifiers pointed here.
    if (url.pathname === '/oauth2/v1/certs') {
      certRequests++;
      res.setHeader('cache-control', 'public, max-age=3600');
      return sendJson(res, 200, { [key.kid]: createPublicKey({ key: key.jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) });
    }
    if (!url.pathname.startsWith('/computeMetadata/')) return sendJson(res, 404, { error: 'not found' });
    if (req.headers['metadata-flavor'] !== 'Google') {
      res.writeHead(403, { 'content-type': 'text/plain' });
      return res.end('Missing Metadata-Flavor:Google header.');
    }
    const headers = { 'metadata-flavor': 'Google', 'content-type': 'application/text' };
    const path = url.pathname.replace(/\/+$/, '');
    switch (path) {
      case '/computeMetadata/v1':
      case '/computeMetadata/v1/instance':
        res.writeHead(200, headers);
        return res.end('');
      case '/computeMetadata/v1/project/project-id':
        res.writeHead(200, headers);
        return res.end(projectId);
      case '/computeMetadata/v1/instance/service-accounts/default/email':
        res.writeHead(200, headers);
        return res.end(serviceAccount);
      case '/computeMetadata/v1/instance/service-accounts/default/token':
        if (!options.tokens) break;
        return sendJson(res, 200, options.tokens.issue(serviceAccount), { 'metadata-flavor': 'Google' });
      case '/computeMetadata/v1/instance/service-accounts/default/identity': {
        const audience = url.searchParams.get('audience');
        if (!audience) {
          res.writeHead(400, headers);
          return res.end('non-empty audience parameter required');
        }
        identityRequests.set(audience, (identityRequests.get(audience) ?? 0) + 1);
        if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
        if (failures > 0) {
          failures--;
          res.writeHead(failStatus, headers);
          return res.end('emulated failure');
        }
        const token = mint(audience);
        issued.push(token);
        res.writeHead(200, headers);
        return res.end(token);
      }
    }
    res.writeHead(404, headers);
    return res.end('not found');
  }, options.port ?? 0);

  return {
    url: server.url,
    host: `127.0.0.1:${server.port}`,
    jwksUrl: `${server.url}/oauth2/v3/certs`,
    pemCertsUrl: `${server.url}/oauth2/v1/certs`,
    certRequests: () => certRequests,
    key,
    serviceAccount,
    identityRequests,
    issued,
    totalIdentityRequests: () => [...identityRequests.values()].reduce((a, b) => a + b, 0),
    failNext(count, status = 500) {
      failures = count;
      failStatus = status;
    },
    setDelay(ms) {
      delayMs = ms;
    },
    mint,
    close: server.close,
  };
}

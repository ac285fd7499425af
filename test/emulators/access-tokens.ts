/**
 * The OAuth access tokens the local Google emulators hand out (opaque random
 * strings, as Google's are), with the principal each one stands for, so the
 * IAM Credentials emulator can tell who is calling.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { signJwt, type SigningKey } from './jwt.js';
import { EMULATOR_ISSUER } from './metadata-server.js';

export interface AccessTokenRecord {
  principal: string;
  expiresAt: number;
}

export interface AccessTokens {
  issue(principal: string, ttlSeconds?: number): { access_token: string; expires_in: number; token_type: 'Bearer' };
  lookup(token: string | undefined): AccessTokenRecord | undefined;
}

export function createAccessTokens(now: () => number = Date.now): AccessTokens {
  const tokens = new Map<string, AccessTokenRecord>();
  return {
    issue(principal, ttlSeconds = 3600) {
      const access_token = `ya29.emulated-${randomBytes(24).toString('base64url')}`;
      tokens.set(access_token, { principal, expiresAt: now() + ttlSeconds * 1000 });
      return { access_token, expires_in: ttlSeconds, token_type: 'Bearer' };
    },
    lookup(token) {
      const record = token ? tokens.get(token) : undefined;
      return record && record.expiresAt > now() ? record : undefined;
    },
  };
}

/** A Google-signed ID token for a service account, as IAM Credentials and the OAuth endpoint mint them. */
export function mintGoogleIdToken(key: SigningKey, email: string, audience: string, now = Date.now(), ttlSeconds = 3600): string {
  const iat = Math.floor(now / 1000);
  return signJwt(key, {
    iss: EMULATOR_ISSUER,
    aud: audience,
    azp: email,
    sub: `sub-${email}`,
    email,
    email_verified: true,
    iat,
    exp: iat + ttlSeconds,
    jti: randomUUID(),
  });
}

/** Counts per key, for "how many token requests per audience" assertions. */
export function countInto(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** Reads an `application/x-www-form-urlencoded` or JSON body. */
export function formOrJson(body: Buffer, contentType: string | undefined): Record<string, string> {
  const text = body.toString('utf8');
  if (contentType?.includes('application/json')) return JSON.parse(text || '{}') as Record<string, string>;
  return Object.fromEntries(new URLSearchParams(text));
}

/**
 * Minimal RS256 JWT signing and verification with node:crypto, for the local
 * emulators. Verification checks what Cloud Run checks: signature against the
 * issuer's keys, issuer, audience and expiry.
 */
import { createPublicKey, createSign, createVerify, generateKeyPairSync, randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  jwk: JsonWebKey & { kid: string; alg: 'RS256'; use: 'sig' };
}

export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(8).toString('hex');
  return { kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } };
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

export function signJwt(key: SigningKey, claims: Record<string, unknown>): string {
  const head = `${b64url({ alg: 'RS256', typ: 'JWT', kid: key.kid })}.${b64url(claims)}`;
  const signature = createSign('RSA-SHA256').update(head).sign(key.privateKey).toString('base64url');
  return `${head}.${signature}`;
}

export interface VerifyJwtOptions {
  keys: readonly JsonWebKey[];
  audience: string | readonly string[];
  issuers: readonly string[];
  now?: number;
  /** Allowed clock skew in seconds; default 10. */
  skewSeconds?: number;
}

/** Verifies and returns the claims, or throws an Error saying what is wrong. */
export function verifyJwt(token: string, options: VerifyJwtOptions): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('not a JWT');
  const [h, p, s] = parts as [string, string, string];
  let header: { alg?: string; kid?: string };
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString());
    claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  } catch {
    throw new Error('malformed JWT');
  }
  if (header.alg !== 'RS256') throw new Error(`unsupported alg ${header.alg}`);
  const jwk = options.keys.find((k) => (k as { kid?: string }).kid === header.kid);
  if (!jwk) throw new Error('unknown signing key');
  const ok = createVerify('RSA-SHA256')
    .update(`${h}.${p}`)
    .verify(createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
  if (!ok) throw new Error('bad signature');
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const skew = options.skewSeconds ?? 10;
  if (typeof claims.exp !== 'number' || claims.exp + skew < now) throw new Error('token expired');
  if (typeof claims.iat === 'number' && claims.iat - skew > now) throw new Error('token used before issued');
  if (!options.issuers.includes(String(claims.iss))) throw new Error(`wrong issuer ${String(claims.iss)}`);
  const audiences = typeof options.audience === 'string' ? [options.audience] : options.audience;
  if (!audiences.includes(String(claims.aud))) throw new Error(`wrong audience ${String(claims.aud)}`);
  return claims;
}

/**
 * Shared pieces of HMAC schemes: the 401s they throw (never naming the
 * expected value) and the "any secret, any signature" constant-time match
 * that makes rotation work.
 */
import { RelayError } from '../errors.js';
import { hmac, safeEqual } from './compare.js';
import { checkTimestamp } from './timestamp.js';

/** 401: the signature header is absent. */
export function missingHeader(name: string): RelayError {
  return new RelayError('unauthorized', `Missing ${name} header`, { details: { reason: 'signature_missing' } });
}

/** 401: the signature header is present but not in the sender's format. */
export function malformedHeader(name: string): RelayError {
  return new RelayError('unauthorized', `Malformed ${name} header`, { details: { reason: 'signature_malformed' } });
}

/** 401: well-formed, but made with none of the configured secrets (or over other bytes). */
export function signatureMismatch(): RelayError {
  return new RelayError('unauthorized', 'Signature does not match', { details: { reason: 'signature_mismatch' } });
}

/**
 * True when any of `given` equals any of `expected`, compared in constant
 * time per pair. Every pair is compared (no early exit on the secret list).
 */
export function anyMatch(expected: readonly Buffer[], given: readonly Buffer[]): boolean {
  let matched = false;
  for (const e of expected) for (const g of given) if (safeEqual(e, g)) matched = true;
  return matched;
}

/** Decodes a hex or base64 signature; undefined when it is not valid in that encoding. */
export function decodeSignature(value: string, encoding: 'hex' | 'base64'): Buffer | undefined {
  const v = value.trim();
  if (encoding === 'hex') return /^(?:[0-9a-fA-F]{2})+$/.test(v) ? Buffer.from(v, 'hex') : undefined;
  return /^[A-Za-z0-9+/]+={0,2}$/.test(v) || /^[A-Za-z0-9_-]+$/.test(v)
    ? Buffer.from(v, v.includes('-') || v.includes('_') ? 'base64url' : 'base64')
    : undefined;
}

export interface V0SignatureCheck {
  headers: Readonly<Record<string, string | undefined>>;
  rawBody: Buffer;
  now: number;
  secrets: readonly string[];
  /** Header carrying `v0=<hex>`, as the sender spells it (for messages). */
  signatureHeader: string;
  /** Header carrying the Unix timestamp, as the sender spells it. */
  timestampHeader: string;
  toleranceSeconds: number;
}

/**
 * The `v0` scheme Slack and Zoom share: `v0=<hex HMAC-SHA256 of "v0:" + ts + ":" + body>`
 * with a Unix timestamp header, checked against every secret, then the
 * timestamp against the tolerance. Throws the scheme's 401s.
 */
export function verifyV0Signature(check: V0SignatureCheck): void {
  const header = check.headers[check.signatureHeader.toLowerCase()];
  if (!header) throw missingHeader(check.signatureHeader);
  const timestamp = check.headers[check.timestampHeader.toLowerCase()];
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) {
    throw new RelayError('unauthorized', `Missing or malformed ${check.timestampHeader} header`, {
      details: { reason: 'timestamp_malformed' },
    });
  }
  const given = header.startsWith('v0=') ? decodeSignature(header.slice(3), 'hex') : undefined;
  if (!given) throw malformedHeader(check.signatureHeader);
  if (
    !anyMatch(
      check.secrets.map((s) => hmac('sha256', s, `v0:${timestamp}:`, check.rawBody)),
      [given],
    )
  )
    throw signatureMismatch();
  checkTimestamp(timestamp, check.now, check.toleranceSeconds, check.timestampHeader);
}

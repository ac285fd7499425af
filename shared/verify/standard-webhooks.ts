import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import * as z from 'zod';
import { hmac } from './compare.js';
import { isJsonType, mediaType, parseJson, stringField } from './body.js';
import { defineScheme } from './scheme.js';
import { envName, secretEnvList } from './secrets.js';
import { anyMatch, malformedHeader, missingHeader, signatureMismatch } from './signature.js';
import { checkTimestamp, toleranceSeconds } from './timestamp.js';
import { RelayError } from '../errors.js';

/** `whsec_<base64>` (or bare base64) → the HMAC key bytes. */
export function hmacKeyFromSecret(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

/** `whpk_<base64 of the 32-byte Ed25519 public key>` (or bare base64) → a public key. */
export function ed25519KeyFromString(value: string): KeyObject {
  const raw = Buffer.from(value.startsWith('whpk_') ? value.slice(5) : value, 'base64');
  if (raw.length !== 32) throw new Error('expected a 32-byte Ed25519 public key (whpk_<base64>)');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

const envList = () => {
  const name = envName();
  return z.union([name, z.array(name).min(1)]).transform((v) => (typeof v === 'string' ? [v] : v));
};

/** Reads `webhook-*` headers, or the `svix-*` names Svix also sends. */
const header = (headers: Record<string, string | undefined>, name: string) => headers[`webhook-${name}`] ?? headers[`svix-${name}`];

/**
 * Standard Webhooks (what Svix sends): `webhook-id`, `webhook-timestamp`
 * (within `toleranceSeconds`) and `webhook-signature: v1,<b64> v1a,<b64> ...`
 * over `id.timestamp.body`. `v1` is HMAC-SHA256 keyed by a `whsec_` secret
 * (`secretEnv`); `v1a` is Ed25519, checked with `whpk_` public keys
 * (`publicKeyEnv`). Any signature may match any key. Delivery id: `webhook-id`;
 * event type: the JSON body's `type`.
 */
export const standardWebhooks = defineScheme({
  scheme: 'standard-webhooks',
  options: () =>
    z
      .object({
        scheme: z.literal('standard-webhooks'),
        secretEnv: secretEnvList().optional(),
        publicKeyEnv: envList().optional(),
        toleranceSeconds: toleranceSeconds(),
      })
      .strict()
      .refine((o) => o.secretEnv || o.publicKeyEnv, {
        message: 'expected secretEnv (whsec_ secrets for v1) and/or publicKeyEnv (whpk_ keys for v1a)',
      }),
  secretEnvs: (options) => [...(options.secretEnv ?? []), ...(options.publicKeyEnv ?? [])],
  forwardHeaders: ['webhook-id', 'webhook-timestamp', 'svix-id', 'svix-timestamp'],
  signatureHeaders: ['webhook-signature', 'svix-signature'],
  signedHeaders: ['webhook-id', 'webhook-timestamp', 'svix-id', 'svix-timestamp'],
  replayWindowSeconds: (options) => options.toleranceSeconds,
  create(options, context) {
    const keys = (options.secretEnv ?? []).map((name) => hmacKeyFromSecret(context.secret(name)));
    const publicKeys = (options.publicKeyEnv ?? []).map((name) => ed25519KeyFromString(context.secret(name)));
    return {
      verify({ headers, rawBody, now }) {
        const id = header(headers, 'id');
        const timestamp = header(headers, 'timestamp');
        const signatures = header(headers, 'signature');
        if (!signatures) throw missingHeader('webhook-signature');
        if (!id || !timestamp || !/^\d{1,12}$/.test(timestamp))
          throw new RelayError('unauthorized', 'Missing or malformed webhook-id / webhook-timestamp header', {
            details: { reason: 'signature_malformed' },
          });
        const signed = [Buffer.from(`${id}.${timestamp}.`), rawBody];
        const v1: Buffer[] = [];
        let ok = false;
        for (const entry of signatures.split(' ')) {
          const [version, value] = entry.split(',', 2);
          if (!value) continue;
          const bytes = Buffer.from(value, 'base64');
          if (version === 'v1') v1.push(bytes);
          else if (version === 'v1a' && bytes.length === 64) {
            for (const key of publicKeys) if (verifySignature(null, Buffer.concat(signed), key, bytes)) ok = true;
          }
        }
        if (!ok && v1.length === 0 && publicKeys.length === 0) throw malformedHeader('webhook-signature');
        if (
          !ok &&
          !anyMatch(
            keys.map((k) => hmac('sha256', k, ...signed)),
            v1,
          )
        )
          throw signatureMismatch();
        checkTimestamp(timestamp, now, options.toleranceSeconds, 'webhook-timestamp');
        const body = isJsonType(mediaType(headers)) ? parseJson(rawBody) : undefined;
        return { body, deliveryId: id, eventType: stringField(body, 'type') };
      },
    };
  },
});

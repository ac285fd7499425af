import * as z from 'zod';
import { hmac } from './compare.js';
import { isJsonType, mediaType, parseJson, stringField } from './body.js';
import { defineScheme } from './scheme.js';
import { secretEnvList } from './secrets.js';
import { anyMatch, decodeSignature, malformedHeader, missingHeader, signatureMismatch } from './signature.js';
import { checkTimestamp, toleranceSeconds } from './timestamp.js';
import { RelayError } from '../errors.js';

const HEADER = 'Stripe-Signature';

/** Splits `t=...,v1=...,v1=...,v0=...` into the timestamp and the v1 signatures. */
export function parseStripeHeader(header: string): { timestamp?: string; v1: string[] } {
  const out: { timestamp?: string; v1: string[] } = { v1: [] };
  for (const part of header.split(',')) {
    const at = part.indexOf('=');
    if (at < 0) continue;
    const key = part.slice(0, at).trim();
    const value = part.slice(at + 1).trim();
    if (key === 't') out.timestamp = value;
    else if (key === 'v1') out.v1.push(value);
  }
  return out;
}

/**
 * Stripe: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">[,v1=...]`.
 * Any v1 may match any listed signing secret (`whsec_...`, used as is).
 * The timestamp must be within `toleranceSeconds` (default 300). The event's
 * `id` is the delivery id and its `type` the event type.
 */
export const stripe = defineScheme({
  scheme: 'stripe',
  options: () => z.object({ scheme: z.literal('stripe'), secretEnv: secretEnvList(), toleranceSeconds: toleranceSeconds() }).strict(),
  secretEnvs: (options) => options.secretEnv,
  forwardHeaders: [],
  signatureHeaders: ['stripe-signature'],
  signedHeaders: [],
  replayWindowSeconds: (options) => options.toleranceSeconds,
  create(options, context) {
    const secrets = options.secretEnv.map((name) => context.secret(name));
    return {
      verify({ headers, rawBody, now }) {
        const header = headers['stripe-signature'];
        if (!header) throw missingHeader(HEADER);
        const { timestamp, v1 } = parseStripeHeader(header);
        const given = v1.map((s) => decodeSignature(s, 'hex')).filter((b): b is Buffer => b !== undefined);
        if (!timestamp || !/^\d{1,12}$/.test(timestamp) || given.length === 0) throw malformedHeader(HEADER);
        const expected = secrets.map((secret) => hmac('sha256', secret, `${timestamp}.`, rawBody));
        if (!anyMatch(expected, given)) throw signatureMismatch();
        checkTimestamp(timestamp, now, options.toleranceSeconds, 'Stripe-Signature timestamp');
        if (!isJsonType(mediaType(headers)))
          throw new RelayError('unsupported_media_type', 'Stripe events are JSON; expected Content-Type application/json');
        const body = parseJson(rawBody);
        return { body, deliveryId: stringField(body, 'id'), eventType: stringField(body, 'type') };
      },
    };
  },
});

import { createHash } from 'node:crypto';
import * as z from 'zod';
import { RelayError } from '../errors.js';
import { FORM_TYPE, mediaType, parseFormPairs } from './body.js';
import { hmac, safeEqual } from './compare.js';
import { defineScheme } from './scheme.js';
import { secretEnvList } from './secrets.js';
import { anyMatch, decodeSignature, malformedHeader, missingHeader, signatureMismatch } from './signature.js';

const HEADER = 'X-Twilio-Signature';

/** The string Twilio signs for a form POST: the URL, then each parameter's name and value, sorted by name. */
export function twilioSignedString(url: string, params: readonly [string, string][]): string {
  const sorted = [...params].sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return url + sorted.map(([name, value]) => name + value).join('');
}

/**
 * Twilio: `X-Twilio-Signature: <base64 HMAC-SHA1>` keyed by the auth token
 * (any listed one), over the public URL Twilio called plus, for form bodies,
 * the sorted parameters; for other bodies Twilio adds `bodySHA256=<hex>` to
 * the URL and signs the URL alone, and the relay checks the hash. The public
 * URL comes from `publicUrl` (behind Google's front end the function cannot
 * know it); the request's query string is appended to it.
 */
export const twilio = defineScheme({
  scheme: 'twilio',
  options: () =>
    z
      .object({
        scheme: z.literal('twilio'),
        secretEnv: secretEnvList(),
        /** The URL configured at Twilio for this route, without query string. */
        publicUrl: z
          .url({ protocol: /^https?$/, error: 'expected the https:// URL Twilio calls for this route' })
          .refine(
            (u) => !u.includes('?') && !u.includes('#'),
            'expected a URL without query or fragment; the query comes from the request',
          ),
      })
      .strict(),
  secretEnvs: (options) => options.secretEnv,
  forwardHeaders: ['i-twilio-idempotency-token'],
  signatureHeaders: ['x-twilio-signature'],
  signedHeaders: [],
  create(options, context) {
    const secrets = options.secretEnv.map((name) => context.secret(name));
    return {
      verify({ headers, rawBody, query = '' }) {
        const header = headers['x-twilio-signature'];
        if (!header) throw missingHeader(HEADER);
        const given = decodeSignature(header, 'base64');
        if (!given || given.length !== 20) throw malformedHeader(HEADER);
        const url = options.publicUrl + query;
        const bodyHash = new URLSearchParams(query).get('bodySHA256');
        let signed: string;
        if (bodyHash !== null) {
          signed = url;
        } else if (mediaType(headers) === FORM_TYPE) {
          signed = twilioSignedString(url, parseFormPairs(rawBody));
        } else {
          throw new RelayError(
            'unsupported_media_type',
            `Twilio signs form bodies, or other bodies with a bodySHA256 query parameter; got ${mediaType(headers) || 'an untyped body'} without one`,
          );
        }
        if (
          !anyMatch(
            secrets.map((s) => hmac('sha1', s, signed)),
            [given],
          )
        )
          throw signatureMismatch();
        if (bodyHash !== null) {
          const actual = createHash('sha256').update(rawBody).digest();
          const claimed = decodeSignature(bodyHash, 'hex');
          if (!claimed || !safeEqual(actual, claimed))
            throw new RelayError('unauthorized', 'Body does not match the signed bodySHA256', {
              details: { reason: 'signature_mismatch' },
            });
        }
        return { deliveryId: headers['i-twilio-idempotency-token'] };
      },
    };
  },
});

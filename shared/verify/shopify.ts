import * as z from 'zod';
import { hmac } from './compare.js';
import { defineScheme } from './scheme.js';
import { secretEnvList } from './secrets.js';
import { anyMatch, decodeSignature, malformedHeader, missingHeader, signatureMismatch } from './signature.js';

const HEADER = 'X-Shopify-Hmac-Sha256';

/**
 * Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the raw body>` with
 * the app's client secret (any listed one). Delivery id from
 * `X-Shopify-Event-Id` (else `X-Shopify-Webhook-Id`), event type from
 * `X-Shopify-Topic`. Shopify signs no timestamp.
 */
export const shopify = defineScheme({
  scheme: 'shopify',
  options: () => z.object({ scheme: z.literal('shopify'), secretEnv: secretEnvList() }).strict(),
  secretEnvs: (options) => options.secretEnv,
  signatureHeaders: ['x-shopify-hmac-sha256'],
  signedHeaders: [],
  forwardHeaders: [
    'x-shopify-topic',
    'x-shopify-shop-domain',
    'x-shopify-event-id',
    'x-shopify-webhook-id',
    'x-shopify-api-version',
    'x-shopify-triggered-at',
  ],
  create(options, context) {
    const secrets = options.secretEnv.map((name) => context.secret(name));
    return {
      verify({ headers, rawBody }) {
        const header = headers['x-shopify-hmac-sha256'];
        if (!header) throw missingHeader(HEADER);
        const given = decodeSignature(header, 'base64');
        if (!given || given.length !== 32) throw malformedHeader(HEADER);
        if (
          !anyMatch(
            secrets.map((s) => hmac('sha256', s, rawBody)),
            [given],
          )
        )
          throw signatureMismatch();
        return { deliveryId: headers['x-shopify-event-id'] || headers['x-shopify-webhook-id'], eventType: headers['x-shopify-topic'] };
      },
    };
  },
});

import { createHmac } from 'node:crypto';
import * as z from 'zod';
import { isJsonType, mediaType, parseJson, stringField } from './body.js';
import { defineScheme } from './scheme.js';
import { secretEnvList } from './secrets.js';
import { verifyV0Signature } from './signature.js';
import { toleranceSeconds } from './timestamp.js';
import { RelayError } from '../errors.js';

const HEADER = 'x-zm-signature';

/**
 * Zoom: `x-zm-signature: v0=<hex HMAC-SHA256 of "v0:ts:body">` with
 * `x-zm-request-timestamp` within `toleranceSeconds`, keyed by the app's
 * secret token (any listed one). Answers the `endpoint.url_validation`
 * challenge itself, with the first listed secret. Event type: the body's `event`.
 */
export const zoom = defineScheme({
  scheme: 'zoom',
  options: () => z.object({ scheme: z.literal('zoom'), secretEnv: secretEnvList(), toleranceSeconds: toleranceSeconds() }).strict(),
  secretEnvs: (options) => options.secretEnv,
  forwardHeaders: ['x-zm-trackingid'],
  signatureHeaders: ['x-zm-signature'],
  signedHeaders: ['x-zm-request-timestamp'],
  replayWindowSeconds: (options) => options.toleranceSeconds,
  create(options, context) {
    const secrets = options.secretEnv.map((name) => context.secret(name));
    return {
      verify({ headers, rawBody, now }) {
        verifyV0Signature({
          headers,
          rawBody,
          now,
          secrets,
          signatureHeader: HEADER,
          timestampHeader: 'x-zm-request-timestamp',
          toleranceSeconds: options.toleranceSeconds,
        });
        if (!isJsonType(mediaType(headers)))
          throw new RelayError('unsupported_media_type', 'Zoom events are JSON; expected Content-Type application/json');
        const body = parseJson(rawBody);
        const event = stringField(body, 'event');
        if (event === 'endpoint.url_validation') {
          const plainToken = stringField((body as { payload?: unknown }).payload, 'plainToken');
          if (!plainToken) throw new RelayError('bad_request', 'endpoint.url_validation without payload.plainToken');
          const encryptedToken = createHmac('sha256', secrets[0]!).update(plainToken).digest('hex');
          return { body, eventType: event, reply: { status: 200, body: { plainToken, encryptedToken } } };
        }
        return { body, eventType: event };
      },
    };
  },
});

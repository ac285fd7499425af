import { createHash } from 'node:crypto';
import * as z from 'zod';
import { FORM_TYPE, isJsonType, mediaType, parseForm, parseJson, stringField } from './body.js';
import { defineScheme, type Verified } from './scheme.js';
import { secretEnvList } from './secrets.js';
import { verifyV0Signature } from './signature.js';
import { toleranceSeconds } from './timestamp.js';
import { RelayError } from '../errors.js';

const HEADER = 'X-Slack-Signature';

/** What Slack's body says about itself: Events API JSON, or a form (slash command, interactivity `payload`). */
function describe(headers: Record<string, string | undefined>, rawBody: Buffer): Verified {
  const type = mediaType(headers);
  // Slack's retries of one request carry the same body; its hash is a fair id when the body names none.
  const bodyHash = 'slack-' + createHash('sha256').update(rawBody).digest('hex').slice(0, 32);
  if (isJsonType(type)) {
    const body = parseJson(rawBody);
    if (stringField(body, 'type') === 'url_verification') {
      return { body, reply: { status: 200, body: { challenge: stringField(body, 'challenge') ?? '' } } };
    }
    const event = (body as { event?: unknown }).event;
    return {
      body,
      deliveryId: stringField(body, 'event_id') ?? bodyHash,
      eventType: stringField(event, 'type') ?? stringField(body, 'type'),
    };
  }
  if (type === FORM_TYPE) {
    const body = parseForm(rawBody);
    let eventType = typeof body.command === 'string' ? 'slash_command' : undefined;
    if (typeof body.payload === 'string') {
      try {
        eventType = stringField(JSON.parse(body.payload), 'type') ?? eventType;
      } catch {
        throw new RelayError('bad_request', 'Slack form field "payload" is not JSON');
      }
    }
    return { body, deliveryId: bodyHash, eventType };
  }
  throw new RelayError('unsupported_media_type', `Slack sends JSON or ${FORM_TYPE}, not ${type || 'an untyped body'}`);
}

/**
 * Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:ts:body">` with
 * `X-Slack-Request-Timestamp` within `toleranceSeconds` (default 300).
 * Answers the Events API `url_verification` challenge itself. The delivery id
 * is the event's `event_id` (else a hash of the body, so Slack's retries
 * match); the event type is the inner `event.type`, else the body's `type`.
 */
export const slack = defineScheme({
  scheme: 'slack',
  options: () => z.object({ scheme: z.literal('slack'), secretEnv: secretEnvList(), toleranceSeconds: toleranceSeconds() }).strict(),
  secretEnvs: (options) => options.secretEnv,
  forwardHeaders: ['x-slack-retry-num', 'x-slack-retry-reason'],
  signatureHeaders: ['x-slack-signature'],
  signedHeaders: ['x-slack-request-timestamp'],
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
          timestampHeader: 'X-Slack-Request-Timestamp',
          toleranceSeconds: options.toleranceSeconds,
        });
        return describe(headers, rawBody);
      },
    };
  },
});

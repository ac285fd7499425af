import * as z from 'zod';
import { hmac } from './compare.js';
import { defineScheme } from './scheme.js';
import { secretEnvList } from './secrets.js';
import { anyMatch, malformedHeader, missingHeader, signatureMismatch } from './signature.js';

const PREFIX = 'sha256=';

/**
 * GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
 * Any of the listed secrets may match (rotation). The delivery id comes from
 * `X-GitHub-Delivery`, the event type from `X-GitHub-Event`.
 */
export const github = defineScheme({
  scheme: 'github',
  options: () => z.object({ scheme: z.literal('github'), secretEnv: secretEnvList() }).strict(),
  secretEnvs: (options) => options.secretEnv,
  signatureHeaders: ['x-hub-signature-256', 'x-hub-signature'],
  signedHeaders: [],
  forwardHeaders: [
    'x-github-event',
    'x-github-delivery',
    'x-github-hook-id',
    'x-github-hook-installation-target-id',
    'x-github-hook-installation-target-type',
  ],
  create(options, context) {
    const secrets = options.secretEnv.map((name) => context.secret(name));
    return {
      verify({ headers, rawBody }) {
        const header = headers['x-hub-signature-256'];
        if (!header) throw missingHeader('X-Hub-Signature-256');
        if (!header.startsWith(PREFIX) || !/^[0-9a-f]{64}$/i.test(header.slice(PREFIX.length)))
          throw malformedHeader('X-Hub-Signature-256');
        const given = Buffer.from(header.slice(PREFIX.length), 'hex');
        if (
          !anyMatch(
            secrets.map((secret) => hmac('sha256', secret, rawBody)),
            [given],
          )
        )
          throw signatureMismatch();
        return { deliveryId: headers['x-github-delivery'], eventType: headers['x-github-event'] };
      },
    };
  },
});

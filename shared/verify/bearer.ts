import * as z from 'zod';
import { RelayError } from '../errors.js';
import { safeEqual } from './compare.js';
import { consumerKeySchema, keyDigest } from './consumer-keys.js';
import { defineScheme } from './scheme.js';
import { secretEnvList } from './secrets.js';

/**
 * `Authorization: Bearer <key>`, matched against shared secrets from the
 * environment (`secretEnv`) and/or named consumer keys stored as SHA-256
 * digests (`keys`). Compared in constant time over digests, so lengths never
 * leak; every listed key is compared. A matched consumer key names the caller,
 * which the relay forwards as `X-Relay-Consumer`; an expired one is refused
 * with `credential_expired`.
 */
export const bearer = defineScheme({
  scheme: 'bearer',
  options: () =>
    z
      .object({ scheme: z.literal('bearer'), secretEnv: secretEnvList().optional(), keys: z.array(consumerKeySchema()).optional() })
      .strict()
      .refine((o) => o.secretEnv || (o.keys && o.keys.length > 0), { message: 'expected secretEnv and/or a non-empty keys list' }),
  secretEnvs: (options) => options.secretEnv ?? [],
  forwardHeaders: [],
  signatureHeaders: ['authorization'],
  signedHeaders: [],
  create(options, context) {
    const secrets = (options.secretEnv ?? []).map((name) => keyDigest(context.secret(name)));
    const keys = (options.keys ?? []).map((k) => ({ ...k, digest: Buffer.from(k.sha256, 'hex') }));
    return {
      verify({ headers, now }) {
        const header = headers['authorization'];
        if (!header) throw new RelayError('unauthorized', 'Missing Authorization header', { details: { reason: 'signature_missing' } });
        const match = /^Bearer +(\S+)\s*$/i.exec(header);
        if (!match?.[1])
          throw new RelayError('unauthorized', 'Expected Authorization: Bearer <secret>', { details: { reason: 'signature_malformed' } });
        const given = keyDigest(match[1]);
        let secretMatched = false;
        for (const secret of secrets) if (safeEqual(secret, given)) secretMatched = true;
        let consumer: (typeof keys)[number] | undefined;
        for (const key of keys) if (safeEqual(key.digest, given)) consumer = key;
        if (secretMatched) return {};
        if (!consumer) throw new RelayError('unauthorized', 'Bearer secret does not match', { details: { reason: 'signature_mismatch' } });
        if (consumer.expires !== undefined && now >= consumer.expires) {
          throw new RelayError(
            'credential_expired',
            `The key of consumer "${consumer.consumer}" expired on ${new Date(consumer.expires).toISOString()}`,
            { details: { consumer: consumer.consumer } },
          );
        }
        return { consumer: consumer.consumer };
      },
    };
  },
});

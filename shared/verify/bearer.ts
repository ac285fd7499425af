import { createHash } from 'node:crypto';
import { z } from 'zod';
import { RelayError } from '../errors.js';
import { safeEqual } from './compare.js';
import { defineScheme } from './scheme.js';
import { secretEnvList } from './secrets.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * A shared secret sent as `Authorization: Bearer <secret>`. Compared in
 * constant time (over SHA-256 digests, so lengths never leak); any listed
 * secret may match.
 */
export const bearer = defineScheme({
  scheme: 'bearer',
  options: z.object({ scheme: z.literal('bearer'), secretEnv: secretEnvList }).strict(),
  secretEnvs: (options) => options.secretEnv,
  forwardHeaders: [],
  create(options, context) {
    const expected = options.secretEnv.map((name) => digest(context.secret(name)));
    return {
      verify({ headers }) {
        const header = headers['authorization'];
        if (!header) throw new RelayError('unauthorized', 'Missing Authorization header');
        const match = /^Bearer +(\S+)\s*$/i.exec(header);
        if (!match?.[1]) throw new RelayError('unauthorized', 'Expected Authorization: Bearer <secret>');
        const given = digest(match[1]);
        if (!expected.some((secret) => safeEqual(secret, given))) {
          throw new RelayError('unauthorized', 'Bearer secret does not match');
        }
        return {};
      },
    };
  },
});

/**
 * Consumer keys: long-lived bearer credentials for outside callers that can
 * only send `Authorization: Bearer <key>`. The config holds only each key's
 * SHA-256 digest, the consumer's name and an optional expiry, so it can live
 * in git; the plaintext stays with the consumer.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as z from 'zod';

/** Prefix of generated keys, so a leaked one is easy to recognise in scanners and logs. */
export const KEY_PREFIX = 'rrk_';

/**
 * The schema of one consumer key entry, built by whoever parses one (a `bearer` route's options, the CLI) and not
 * kept at module level.
 */
export const consumerKeySchema = () => {
  const expiry = z
    .union([z.date(), z.iso.date(), z.iso.datetime({ offset: true })], {
      error: 'expected an expiry date like 2027-01-31 or an ISO date-time with offset',
    })
    .transform((v) => (v instanceof Date ? v : new Date(v)).getTime());
  return z
    .object({
      consumer: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/, 'expected a consumer name of letters, digits, ".", "_", "@" or "-"'),
      sha256: z
        .string()
        .regex(/^[0-9a-f]{64}$/, "expected the key's SHA-256 digest as 64 lower-case hex digits (run `run-relay consumer-key`)"),
      /** The key stops working at this instant (a bare date means 00:00 UTC that day). */
      expires: expiry.optional(),
    })
    .strict();
};

export type ConsumerKey = z.output<ReturnType<typeof consumerKeySchema>>;

/** SHA-256 of a presented key, as stored in the config. */
export function keyDigest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** A new random key (256 bits) and its digest. */
export function generateConsumerKey(): { key: string; sha256: string } {
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  return { key, sha256: keyDigest(key).toString('hex') };
}

import { OAuth2Client } from 'google-auth-library';
import * as z from 'zod';
import { RelayError } from '../errors.js';
import { GOOGLE_CERTS_URL } from '../settings.js';
import { defineScheme } from './scheme.js';

export { GOOGLE_CERTS_URL };

const stringList = <T extends z.ZodType<string>>(item: T) =>
  z.union([item, z.array(item).min(1)]).transform((v): string[] => (typeof v === 'string' ? [v] : (v as string[])));

/**
 * `google-oidc`: a Google-signed ID token from a Google caller (Cloud
 * Scheduler HTTP target, Pub/Sub push subscription, another service) in
 * `Authorization: Bearer`. google-auth-library checks the signature against
 * Google's certificates (fetched and cached per their Cache-Control), the
 * issuer and expiry; the relay checks `aud` against `audience` and the
 * verified `email` against `serviceAccounts`. The email is forwarded as the
 * consumer. Note: the library reads the system clock for expiry.
 */
export const googleOidc = defineScheme({
  scheme: 'google-oidc',
  options: () =>
    z
      .object({
        scheme: z.literal('google-oidc'),
        /** Audiences accepted: the URL the caller was configured with (or a custom audience). */
        audience: stringList(z.string().min(1)),
        /** Service account emails allowed to call. */
        serviceAccounts: stringList(z.email({ error: 'expected a service account email' })),
      })
      .strict(),
  secretEnvs: () => [],
  forwardHeaders: [],
  signatureHeaders: ['authorization'],
  signedHeaders: [],
  create(options, context) {
    // settings.googleCertsUrl comes from RELAY_GOOGLE_CERTS_URL (local emulators); default Google's.
    const client = new OAuth2Client({
      endpoints: { oauth2FederatedSignonPemCertsUrl: context.settings?.googleCertsUrl || GOOGLE_CERTS_URL },
    });
    const allowed = new Set(options.serviceAccounts.map((e) => e.toLowerCase()));
    return {
      async verify({ headers }) {
        const header = headers['authorization'];
        if (!header) throw new RelayError('unauthorized', 'Missing Authorization header', { details: { reason: 'signature_missing' } });
        const idToken = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\s*$/i.exec(header)?.[1];
        if (!idToken)
          throw new RelayError('unauthorized', 'Expected Authorization: Bearer <Google ID token>', {
            details: { reason: 'signature_malformed' },
          });
        let payload;
        try {
          payload = (await client.verifyIdToken({ idToken, audience: options.audience })).getPayload();
        } catch (error) {
          const message = error instanceof Error ? error.message : '';
          if (message.startsWith('Failed to retrieve verification certificates')) {
            throw new RelayError('unavailable', "Google's certificates cannot be fetched right now", { cause: error });
          }
          if (/too late|too early/.test(message)) throw new RelayError('credential_expired', 'ID token expired or not yet valid');
          // The library's messages quote the token; say only which check failed.
          const reason = /audience/i.test(message)
            ? 'wrong audience'
            : /issuer/i.test(message)
              ? 'wrong issuer'
              : /signature|certificate|kid|pem/i.test(message)
                ? 'bad signature'
                : 'malformed token';
          throw new RelayError('unauthorized', `ID token refused: ${reason}`, { details: { reason: 'signature_mismatch' } });
        }
        const email = payload?.email?.toLowerCase();
        if (!email || payload?.email_verified !== true || !allowed.has(email)) {
          throw new RelayError('unauthorized', 'ID token refused: caller is not an allowed service account', {
            details: { reason: 'caller_not_allowed', email },
          });
        }
        return { consumer: email };
      },
    };
  },
});

/**
 * The per-target `identity` setting: which credential mints the target's ID
 * tokens. Absent: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
 * gcloud's ADC file, else the metadata server).
 */
import * as z from 'zod';

/** Built by the config schema (config/schema.ts) while the config is checked, and dropped with it. */
export const buildIdentitySchema = () => {
  const email = z.email({ error: 'expected a service account email' });
  return z
    .object({
      /** A credential JSON file: service_account, external_account, impersonated_service_account or authorized_user. */
      credentialsFile: z.string().min(1).optional(),
      /** Service account whose ID tokens are minted through IAM Credentials generateIdToken. */
      impersonate: email.optional(),
      /** Delegation chain for impersonation; each account needs Token Creator on the next. */
      delegates: z.array(email).optional(),
      /** IAM Credentials API base URL (other universes, tests); default from the credential, else https://iamcredentials.googleapis.com. */
      iamCredentialsEndpoint: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
    })
    .strict()
    .refine((identity) => !identity.delegates?.length || identity.impersonate, {
      message: 'delegates need impersonate: name the service account the chain ends at',
      path: ['delegates'],
    });
};

export type IdentityConfig = z.output<ReturnType<typeof buildIdentitySchema>>;

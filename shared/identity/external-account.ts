/**
 * Workload identity federation (`external_account` credential files) to ID
 * tokens, the step google-auth-library lacks:
 *
 *   subject token (file, URL or executable, as the file says)
 *     -> STS token exchange (the file's `token_url`)      [library]
 *     -> IAM Credentials generateIdToken with the federated token, for the
 *        service account named by `service_account_impersonation_url` or
 *        the `impersonate` setting                       [here]
 *
 * The library's client is built WITHOUT the impersonation URL so that it hands
 * back the federated token itself (and caches it until it expires); the
 * federated principal then needs only `iam.serviceAccounts.getOpenIdToken`
 * on the service account.
 */
import { ExternalAccountClient, type ExternalAccountClientOptions } from 'google-auth-library';
import { DEFAULT_IAM_CREDENTIALS_ENDPOINT, generateIdToken } from './generate-id-token.js';
import { IdentityError } from './identity-error.js';
import { identityErrorFrom } from './library-error.js';
import { CLOUD_PLATFORM_SCOPE } from './service-account-key.js';
import type { IdTokenSource } from './token-source.js';

export interface ExternalAccountSourceOptions {
  /** Service account to mint ID tokens for; default: the one in `service_account_impersonation_url`. */
  impersonate?: string;
  delegates?: readonly string[];
  /** IAM Credentials base URL; default: the impersonation URL's origin, else iamcredentials.<universe>. */
  iamCredentialsEndpoint?: string;
  fetch?: typeof fetch;
}

const IMPERSONATION_URL = /\/serviceAccounts\/([^/:]+):generateAccessToken$/;

/** The service account and IAM endpoint named by a `service_account_impersonation_url`. */
export function parseImpersonationUrl(url: unknown): { serviceAccount: string; endpoint: string } | undefined {
  if (typeof url !== 'string') return undefined;
  try {
    const parsed = new URL(url);
    const match = IMPERSONATION_URL.exec(parsed.pathname);
    return match ? { serviceAccount: decodeURIComponent(match[1]!), endpoint: parsed.origin } : undefined;
  } catch {
    return undefined;
  }
}

/** An ID token source for an `external_account` credential; `origin` names the file for errors. */
export function externalAccountSource(
  json: Record<string, unknown>,
  origin: string,
  options: ExternalAccountSourceOptions = {},
): IdTokenSource {
  const fromUrl = parseImpersonationUrl(json.service_account_impersonation_url);
  const serviceAccount = options.impersonate ?? fromUrl?.serviceAccount;
  const federated = `external_account credential ${origin} (federated principal of ${String(json.audience ?? 'unknown pool')})`;
  if (!serviceAccount) {
    throw new IdentityError(
      `${federated} names no service account: a federated identity cannot hold ID tokens itself; add service_account_impersonation_url to the file or set identity.impersonate (the service account must grant the principal roles/iam.serviceAccountOpenIdTokenCreator)`,
      false,
    );
  }
  const universe = typeof json.universe_domain === 'string' ? json.universe_domain : 'googleapis.com';
  const endpoint =
    options.iamCredentialsEndpoint ??
    fromUrl?.endpoint ??
    (universe === 'googleapis.com' ? DEFAULT_IAM_CREDENTIALS_ENDPOINT : `https://iamcredentials.${universe}`);
  const { service_account_impersonation_url: _dropped, ...rest } = json;
  let client: ReturnType<typeof ExternalAccountClient.fromJSON>;
  try {
    client = ExternalAccountClient.fromJSON({ ...rest, scopes: [CLOUD_PLATFORM_SCOPE] } as unknown as ExternalAccountClientOptions);
  } catch (error) {
    throw identityErrorFrom(error, 'Reading the credential', federated);
  }
  if (!client) throw new IdentityError(`${origin} is not an external_account credential file`, false);
  const federatedClient = client;
  return {
    async fetchIdToken(audience) {
      let accessToken: string | null | undefined;
      try {
        // Subject token + STS exchange; the library caches the federated token until it expires.
        accessToken = (await federatedClient.getAccessToken()).token;
      } catch (error) {
        throw identityErrorFrom(error, 'Federated token exchange (subject token -> STS)', federated);
      }
      if (!accessToken) throw new IdentityError(`STS returned no access token for ${federated}`, true);
      return generateIdToken({
        endpoint,
        serviceAccount,
        audience,
        accessToken,
        delegates: options.delegates,
        caller: federated,
        fetch: options.fetch,
      });
    },
    describe: () => `${federated} -> ${serviceAccount}`,
  };
}

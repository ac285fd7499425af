/**
 * Impersonation: a source credential (metadata server, key file, user login,
 * federated identity) gets an OAuth access token, then asks IAM Credentials
 * for an ID token of a named service account. Least privilege: the source
 * needs only `iam.serviceAccounts.getOpenIdToken` on that one account.
 */
import type { AuthClient } from 'google-auth-library';
import { generateIdToken } from './generate-id-token.js';
import { identityErrorFrom } from './library-error.js';
import type { IdTokenSource } from './token-source.js';

export interface ImpersonatedSourceOptions {
  /** Where the source credential's access tokens come from (a google-auth-library client). */
  sourceClient: AuthClient | (() => Promise<AuthClient>);
  /** Describes the source credential, e.g. "metadata server". */
  sourceDescription: string;
  serviceAccount: string;
  delegates?: readonly string[];
  /** IAM Credentials base URL; default https://iamcredentials.googleapis.com. */
  endpoint?: string;
  fetch?: typeof fetch;
}

/** An ID token source impersonating `serviceAccount`; see {@link ImpersonatedSourceOptions}. */
export function impersonatedSource(options: ImpersonatedSourceOptions): IdTokenSource {
  const { sourceDescription, serviceAccount } = options;
  const credential = `${sourceDescription} impersonating ${serviceAccount}`;
  let client: Promise<AuthClient> | undefined;
  const getClient = () => {
    const { sourceClient } = options;
    client ??= (typeof sourceClient === 'function' ? sourceClient() : Promise.resolve(sourceClient)).catch((error: unknown) => {
      client = undefined;
      throw error;
    });
    return client;
  };
  return {
    async fetchIdToken(audience) {
      let accessToken: string | null | undefined;
      try {
        accessToken = (await (await getClient()).getAccessToken()).token;
      } catch (error) {
        throw identityErrorFrom(error, 'Getting an access token', sourceDescription);
      }
      if (!accessToken) throw identityErrorFrom(new Error('no access token returned'), 'Getting an access token', sourceDescription);
      return generateIdToken({
        endpoint: options.endpoint,
        serviceAccount,
        audience,
        accessToken,
        delegates: options.delegates,
        caller: sourceDescription,
        fetch: options.fetch,
      });
    },
    describe: () => credential,
  };
}

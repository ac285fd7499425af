/**
 * Where ID tokens come from. The relay asks an {@link IdTokenSource} for a
 * Google-signed ID token per audience; the default source is Application
 * Default Credentials through google-auth-library, which is the metadata
 * server on Cloud Functions (or `GCE_METADATA_HOST` locally) and a key file or
 * user credentials elsewhere.
 */
import { GoogleAuth } from 'google-auth-library';
import { RelayError } from '../errors.js';

export interface IdTokenSource {
  /** Fetches a new ID token for `audience`. No caching: see token-cache.ts. */
  fetchIdToken(audience: string): Promise<string>;
  /** A short description of the credential in use, for logs and errors. */
  describe?(): string;
}

interface IdTokenCapable {
  fetchIdToken(audience: string): Promise<string>;
}

/**
 * An ID token source backed by Application Default Credentials.
 * The credential is resolved on first use and kept; failures are retried on the next call.
 */
export function googleAuthTokenSource(auth: GoogleAuth = new GoogleAuth()): IdTokenSource {
  let client: Promise<IdTokenCapable> | undefined;
  let kind = 'application default credentials (not yet resolved)';
  const resolveClient = async (): Promise<IdTokenCapable> => {
    const resolved = await auth.getClient();
    kind = resolved.constructor.name;
    if (!('fetchIdToken' in resolved) || typeof resolved.fetchIdToken !== 'function') {
      throw new RelayError(
        'token_unavailable',
        `The credential found (${kind}) cannot mint ID tokens; use the metadata server, a service account key, or impersonation`,
      );
    }
    return resolved as unknown as IdTokenCapable;
  };
  return {
    async fetchIdToken(audience) {
      client ??= resolveClient().catch((error) => {
        client = undefined;
        throw error;
      });
      return (await client).fetchIdToken(audience);
    },
    describe: () => kind,
  };
}

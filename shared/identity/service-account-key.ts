/**
 * Service account key files. The ID token comes from Google's OAuth token
 * endpoint in exchange for a self-signed JWT carrying `target_audience` (a
 * self-signed JWT alone is NOT an ID token: Cloud Run rejects it). The library
 * (`JWT.fetchIdToken`) asks for a new token on every call, so this source must
 * sit behind the relay's TokenCache.
 */
import { JWT } from 'google-auth-library';
import { identityErrorFrom } from './library-error.js';
import type { IdTokenSource } from './token-source.js';

/** The fixed token URL the library posts key-file assertions to. */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

export interface ServiceAccountKey {
  type: 'service_account';
  client_email: string;
  private_key: string;
  private_key_id?: string;
  project_id?: string;
  universe_domain?: string;
}

export interface KeyClientOptions {
  /**
   * Sends the library's token requests here instead of Google's fixed token
   * URL. For tests and private token gateways; not a config setting.
   */
  tokenEndpoint?: string;
}

/** A library JWT client for the key, with cloud-platform scope (for access tokens, e.g. as an impersonation source). */
export function serviceAccountKeyClient(key: ServiceAccountKey, options: KeyClientOptions = {}): JWT {
  const client = new JWT({ email: key.client_email, key: key.private_key, keyId: key.private_key_id, scopes: [CLOUD_PLATFORM_SCOPE] });
  const { tokenEndpoint } = options;
  if (tokenEndpoint) {
    client.transporter.interceptors.request.add({
      resolved: async (config) => {
        if (String(config.url) === GOOGLE_TOKEN_URL) config.url = new URL(tokenEndpoint);
        return config;
      },
    });
  }
  return client;
}

/** An ID token source for a service account key; `origin` names the file for errors. */
export function serviceAccountKeySource(key: ServiceAccountKey, origin: string, options: KeyClientOptions = {}): IdTokenSource {
  const client = serviceAccountKeyClient(key, options);
  const credential = `service account key ${origin} (${key.client_email})`;
  return {
    async fetchIdToken(audience) {
      try {
        return await client.fetchIdToken(audience);
      } catch (error) {
        throw identityErrorFrom(error, 'ID token exchange at the OAuth token endpoint', credential);
      }
    },
    describe: () => credential,
  };
}

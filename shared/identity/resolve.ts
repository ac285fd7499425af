/**
 * Chooses the ID token source for an identity setting (or for Application
 * Default Credentials when there is none), the way gcloud and the Google
 * libraries look for credentials:
 *
 *  1. `identity.credentialsFile`, else `GOOGLE_APPLICATION_CREDENTIALS`,
 *     else gcloud's ADC file if it exists: the file's `type` decides;
 *  2. otherwise the metadata server.
 *
 * `identity.impersonate` turns any of them into the source credential of an
 * IAM Credentials `generateIdToken` call for that service account.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { GoogleAuth, UserRefreshClient, type AuthClient } from 'google-auth-library';
import { externalAccountSource, parseImpersonationUrl } from './external-account.js';
import type { IdentityConfig } from './identity-schema.js';
import { IdentityError } from './identity-error.js';
import { impersonatedSource } from './impersonated.js';
import { CLOUD_PLATFORM_SCOPE, serviceAccountKeyClient, serviceAccountKeySource, type ServiceAccountKey } from './service-account-key.js';
import { googleAuthTokenSource, type IdTokenSource } from './token-source.js';
import type { CredentialEnv } from '../settings.js';

export interface ResolveOptions {
  /** How `identity.credentialsFile` was given, for messages; default "identity.credentialsFile" (the CLI says "--credentials"). */
  credentialsFileVia?: string;
  /** Where ADC looks for a credential file (`settings.credentials`, or a CLI's environment); default none set. */
  env?: CredentialEnv;
  readFile?: (path: string) => string;
  exists?: (path: string) => boolean;
  /** Redirects key-file token requests (tests); see service-account-key.ts. */
  tokenEndpoint?: string;
  fetch?: typeof fetch;
  /** The GoogleAuth used for the metadata server; default a new one. */
  auth?: GoogleAuth;
}

/** Where gcloud keeps Application Default Credentials. */
export function wellKnownAdcFile(env: CredentialEnv): string {
  const base =
    env.CLOUDSDK_CONFIG ??
    (process.platform === 'win32' && env.APPDATA ? join(env.APPDATA, 'gcloud') : join(env.HOME ?? homedir(), '.config', 'gcloud'));
  return join(base, 'application_default_credentials.json');
}

/** The credential file ADC would use, and how it was found, or undefined for the metadata server. */
export function findCredentialsFile(
  identity: IdentityConfig | undefined,
  options: ResolveOptions = {},
): { path: string; via: string } | undefined {
  const env = options.env ?? {};
  const exists = options.exists ?? existsSync;
  if (identity?.credentialsFile) return { path: identity.credentialsFile, via: options.credentialsFileVia ?? 'identity.credentialsFile' };
  if (env.GOOGLE_APPLICATION_CREDENTIALS) return { path: env.GOOGLE_APPLICATION_CREDENTIALS, via: 'GOOGLE_APPLICATION_CREDENTIALS' };
  const wellKnown = wellKnownAdcFile(env);
  return exists(wellKnown) ? { path: wellKnown, via: "gcloud's application default credentials" } : undefined;
}

function readCredentials(path: string, via: string, readFile: (path: string) => string): Record<string, unknown> {
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new IdentityError(`Cannot read the credential file ${path} (from ${via}): ${reason}`, false);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new IdentityError(`The credential file ${path} (from ${via}) is not JSON`, false);
  }
  if (!json || typeof json !== 'object' || typeof (json as { type?: unknown }).type !== 'string') {
    throw new IdentityError(`The credential file ${path} (from ${via}) has no "type"`, false);
  }
  return json as Record<string, unknown>;
}

function requireFields(json: Record<string, unknown>, fields: string[], what: string): void {
  const missing = fields.filter((f) => typeof json[f] !== 'string' || json[f] === '');
  if (missing.length) throw new IdentityError(`${what} lacks ${missing.join(', ')}`, false);
}

/** A library client yielding access tokens for a credential JSON (the source of an impersonation). */
function accessTokenClient(json: Record<string, unknown>, what: string, options: ResolveOptions): AuthClient {
  switch (json.type) {
    case 'service_account':
      requireFields(json, ['client_email', 'private_key'], what);
      return serviceAccountKeyClient(json as unknown as ServiceAccountKey, { tokenEndpoint: options.tokenEndpoint });
    case 'authorized_user': {
      requireFields(json, ['client_id', 'client_secret', 'refresh_token'], what);
      const client = UserRefreshClient.fromJSON(json as never);
      return client;
    }
    default:
      throw new IdentityError(`${what} has type "${String(json.type)}", which cannot be the source of an impersonation`, false);
  }
}

/**
 * Builds the ID token source for `identity` (undefined = ADC). Reads the
 * credential file at once; throws IdentityError naming the file and what it lacks.
 */
export function resolveTokenSource(identity: IdentityConfig | undefined, options: ResolveOptions = {}): IdTokenSource {
  const readFile = options.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
  const found = findCredentialsFile(identity, options);
  const impersonate = identity?.impersonate;
  const delegates = identity?.delegates;
  const endpoint = identity?.iamCredentialsEndpoint;

  if (!found) {
    const auth = options.auth ?? new GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE] });
    if (!impersonate) return googleAuthTokenSource(auth);
    return impersonatedSource({
      sourceClient: () => auth.getClient(),
      sourceDescription: 'metadata server',
      serviceAccount: impersonate,
      delegates,
      endpoint,
      fetch: options.fetch,
    });
  }

  const json = readCredentials(found.path, found.via, readFile);
  const what = `${String(json.type)} credential file ${found.path} (from ${found.via})`;
  switch (json.type) {
    case 'service_account': {
      requireFields(json, ['client_email', 'private_key'], what);
      if (!impersonate)
        return serviceAccountKeySource(json as unknown as ServiceAccountKey, found.path, { tokenEndpoint: options.tokenEndpoint });
      break;
    }
    case 'external_account':
      requireFields(json, ['audience', 'subject_token_type'], what);
      return externalAccountSource(json, found.path, { impersonate, delegates, iamCredentialsEndpoint: endpoint, fetch: options.fetch });
    case 'impersonated_service_account': {
      const target = parseImpersonationUrl(json.service_account_impersonation_url);
      const source = json.source_credentials;
      if (!source || typeof source !== 'object') throw new IdentityError(`${what} lacks source_credentials`, false);
      if (!target && !impersonate)
        throw new IdentityError(`${what} lacks a service_account_impersonation_url naming the service account`, false);
      const fileDelegates = Array.isArray(json.delegates)
        ? json.delegates.map((d) => String(d).replace(/^projects\/-\/serviceAccounts\//, ''))
        : undefined;
      return impersonatedSource({
        sourceClient: accessTokenClient(source as Record<string, unknown>, `source_credentials of ${what}`, options),
        sourceDescription: `${String((source as { type?: unknown }).type)} source credentials of ${found.path}`,
        serviceAccount: impersonate ?? target!.serviceAccount,
        delegates: delegates ?? fileDelegates,
        endpoint: endpoint ?? target?.endpoint,
        fetch: options.fetch,
      });
    }
    case 'authorized_user':
      if (!impersonate) {
        throw new IdentityError(
          `${what} is a person's gcloud login, which cannot mint ID tokens for an audience of your choosing; set identity.impersonate (or --impersonate) to a service account you hold roles/iam.serviceAccountOpenIdTokenCreator on`,
          false,
        );
      }
      break;
    default:
      throw new IdentityError(
        `${what}: type "${String(json.type)}" is not supported; expected service_account, external_account, impersonated_service_account or authorized_user`,
        false,
      );
  }
  return impersonatedSource({
    sourceClient: accessTokenClient(json, what, options),
    sourceDescription: what,
    serviceAccount: impersonate!,
    delegates,
    endpoint,
    fetch: options.fetch,
  });
}

/**
 * Defers building a source to its first use, so a broken ADC file is
 * reported on the first token request rather than crashing start-up; a
 * failed build is retried on the next call.
 */
export function lazySource(build: () => IdTokenSource): IdTokenSource {
  let source: IdTokenSource | undefined;
  return {
    fetchIdToken(audience) {
      try {
        source ??= build();
      } catch (error) {
        return Promise.reject(error);
      }
      return source.fetchIdToken(audience);
    },
    describe: () => source?.describe?.() ?? 'application default credentials (not yet resolved)',
  };
}

/**
 * Every Google identity service the relay can meet, on loopback, sharing one
 * signing key for ID tokens (the key the private target trusts): the metadata
 * server (also serving access tokens), the OAuth token endpoint for key files,
 * an OIDC identity provider, STS and IAM Credentials. Credential files are
 * written to a temporary directory.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAccessTokens, type AccessTokens } from '../emulators/access-tokens.js';
import { startIamCredentials, type IamCredentials } from '../emulators/iam-credentials.js';
import { generateSigningKey, type SigningKey } from '../emulators/jwt.js';
import { startMetadataServer, type MetadataServer } from '../emulators/metadata-server.js';
import { startOAuthTokenEndpoint, type OAuthTokenEndpoint } from '../emulators/oauth-token.js';
import { startOidcProvider, type OidcProvider } from '../emulators/oidc-provider.js';
import { federatedPrincipal, startSts, type Sts } from '../emulators/sts.js';
import { startPrivateTarget, type PrivateTarget } from '../emulators/private-target.js';

export const PROVIDER_AUDIENCE = '//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci-pool/providers/ci-oidc';
export const SUBJECT = 'repo:acme/app:ref:refs/heads/main';
export const FEDERATED_SA = 'relay-federated@local-project.iam.gserviceaccount.com';
export const IMPERSONATED_SA = 'relay-invoker@local-project.iam.gserviceaccount.com';
export const KEY_SA = 'relay-key@local-project.iam.gserviceaccount.com';

export interface IdentityStack {
  key: SigningKey;
  tokens: AccessTokens;
  metadata: MetadataServer;
  oauth: OAuthTokenEndpoint;
  idp: OidcProvider;
  sts: Sts;
  iam: IamCredentials;
  dir: string;
  /** The federated principal of SUBJECT. */
  principal: string;
  /** Writes a JSON file in the temp dir and returns its path. */
  writeJson(name: string, value: unknown): string;
  /** A key file for KEY_SA (created once). */
  keyFile(): string;
  /** An external_account file; `source` picks how the subject token is obtained. */
  externalAccountFile(options?: {
    source?: 'file' | 'url' | 'executable';
    tokenUrl?: string;
    impersonation?: boolean;
    subjectToken?: string;
  }): string;
  target(audience?: string): Promise<PrivateTarget>;
  close(): Promise<void>;
}

export async function startIdentityStack(): Promise<IdentityStack> {
  const key = generateSigningKey();
  const tokens = createAccessTokens();
  const metadata = await startMetadataServer({ key, tokens });
  const oauth = await startOAuthTokenEndpoint({ key, tokens });
  const idp = await startOidcProvider();
  const sts = await startSts({ tokens, providerAudience: PROVIDER_AUDIENCE, issuer: idp.issuer, keys: () => [idp.key.jwk] });
  const iam = await startIamCredentials({ tokens, key });
  const dir = mkdtempSync(join(tmpdir(), 'relay-identity-'));
  const principal = federatedPrincipal(PROVIDER_AUDIENCE, SUBJECT);
  const targets: PrivateTarget[] = [];
  let keyPath: string | undefined;
  let files = 0;

  const writeJson = (name: string, value: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(value, null, 2));
    return path;
  };

  return {
    key,
    tokens,
    metadata,
    oauth,
    idp,
    sts,
    iam,
    dir,
    principal,
    writeJson,
    keyFile() {
      keyPath ??= writeJson('key.json', oauth.createKey(KEY_SA));
      return keyPath;
    },
    externalAccountFile({ source = 'file', tokenUrl = sts.tokenUrl, impersonation = true, subjectToken } = {}) {
      const n = ++files;
      const token = subjectToken ?? idp.mint({ subject: SUBJECT, audience: `https:${PROVIDER_AUDIENCE}` });
      let credential_source: Record<string, unknown>;
      if (source === 'file') {
        credential_source = { file: join(dir, `subject-${n}.jwt`) };
        writeFileSync(join(dir, `subject-${n}.jwt`), token);
      } else if (source === 'url') {
        idp.serve(token);
        credential_source = {
          url: `${idp.url}/token`,
          headers: { Metadata: 'True' },
          format: { type: 'json', subject_token_field_name: 'id_token' },
        };
      } else {
        const response = {
          version: 1,
          success: true,
          token_type: 'urn:ietf:params:oauth:token-type:jwt',
          id_token: token,
          expiration_time: Math.floor(Date.now() / 1000) + 600,
        };
        const script = join(dir, `subject-${n}.sh`);
        writeFileSync(script, `#!/bin/sh\ncat <<'JSON'\n${JSON.stringify(response)}\nJSON\n`);
        chmodSync(script, 0o755);
        credential_source = { executable: { command: script, timeout_millis: 5000 } };
      }
      return writeJson(`external-${n}.json`, {
        type: 'external_account',
        audience: PROVIDER_AUDIENCE,
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        token_url: tokenUrl,
        ...(impersonation
          ? { service_account_impersonation_url: `${iam.url}/v1/projects/-/serviceAccounts/${FEDERATED_SA}:generateAccessToken` }
          : {}),
        credential_source,
      });
    },
    async target(audience) {
      const target = await startPrivateTarget({ keys: () => [key.jwk], audience });
      targets.push(target);
      return target;
    },
    async close() {
      await Promise.all([metadata.close(), oauth.close(), idp.close(), sts.close(), iam.close(), ...targets.map((t) => t.close())]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

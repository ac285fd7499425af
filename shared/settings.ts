/**
 * The relay's non-secret settings from the environment, parsed once at the
 * composition root (`createRuntime` in functions/runtime.ts, or a CLI entry
 * point) and passed down. Nothing else under `shared/` reads the environment:
 * tests hand in plain objects. Secrets are not settings: the config names
 * them and `parseConfig` reads them.
 */
import type { Severity } from './log.js';

/** Google's PEM certificates for ID tokens; `RELAY_GOOGLE_CERTS_URL` overrides it (local emulators). */
export const GOOGLE_CERTS_URL = 'https://www.googleapis.com/oauth2/v1/certs';

/** The variables Application Default Credentials looks at to find a credential file. */
export interface CredentialEnv {
  GOOGLE_APPLICATION_CREDENTIALS?: string;
  CLOUDSDK_CONFIG?: string;
  APPDATA?: string;
  HOME?: string;
}

export interface Settings {
  /** `GOOGLE_CLOUD_PROJECT`, else `GCLOUD_PROJECT`; the config's `projectId` wins over it. */
  projectId?: string;
  /** Lowest severity logged: `DEBUG` when `RELAY_LOG_LEVEL=debug`, else `INFO`. */
  logLevel: Severity;
  /** `RELAY_GOOGLE_CERTS_URL`, else {@link GOOGLE_CERTS_URL}: where `google-oidc` fetches Google's certificates. */
  googleCertsUrl: string;
  /** `PUBSUB_EMULATOR_HOST`: talk to the Pub/Sub emulator instead of Google. */
  pubsubEmulatorHost?: string;
  /** Where ADC looks for a credential file (see shared/identity/resolve.ts). */
  credentials: CredentialEnv;
  /** `RELAY_LOG_TRAFFIC=1`: request and sent headers (masked) and bodies on the log lines, for `npm start`'s inspector (shared/traffic.ts). */
  logTraffic: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value === '' ? undefined : value);

/**
 * Reads the settings from `env` (no default: the caller says which
 * environment). Unset and empty variables both mean "not set".
 *
 * @example parseSettings({ RELAY_LOG_LEVEL: 'debug' }).logLevel // 'DEBUG'
 */
export function parseSettings(env: Env): Settings {
  const credentials: CredentialEnv = {};
  for (const name of ['GOOGLE_APPLICATION_CREDENTIALS', 'CLOUDSDK_CONFIG', 'APPDATA', 'HOME'] as const) {
    const value = nonEmpty(env[name]);
    if (value !== undefined) credentials[name] = value;
  }
  const projectId = nonEmpty(env.GOOGLE_CLOUD_PROJECT) ?? nonEmpty(env.GCLOUD_PROJECT);
  const pubsubEmulatorHost = nonEmpty(env.PUBSUB_EMULATOR_HOST);
  return {
    ...(projectId ? { projectId } : {}),
    logLevel: env.RELAY_LOG_LEVEL?.toUpperCase() === 'DEBUG' ? 'DEBUG' : 'INFO',
    googleCertsUrl: nonEmpty(env.RELAY_GOOGLE_CERTS_URL) ?? GOOGLE_CERTS_URL,
    ...(pubsubEmulatorHost ? { pubsubEmulatorHost } : {}),
    credentials,
    logTraffic: env.RELAY_LOG_TRAFFIC === '1',
  };
}

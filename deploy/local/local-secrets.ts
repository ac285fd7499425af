/**
 * The secrets `npm start` makes up for a config: every secret a route's
 * `verify:` block names that the environment leaves unset gets a fixed,
 * obviously local value, so any config starts locally and `run-relay send`
 * can sign for it (it reads the same values from .relay-local.json).
 */
import { buildVerifySchema } from '../../shared/verify/registry.js';

/** The built-in example's values, kept stable across restarts. */
const KNOWN: Record<string, string> = { GITHUB_WEBHOOK_SECRET: 'local-github-secret', PARTNER_BEARER_SECRET: 'local-partner-key' };

/**
 * Secret env name → local value, for the routes in a parsed (not yet
 * validated) config. Standard Webhooks secrets are `whsec_` + base64, as that
 * scheme expects. Ed25519 public keys (`publicKeyEnv`) are not made up: nothing
 * local could sign for them.
 */
export function localSecrets(input: unknown, env: NodeJS.ProcessEnv): Record<string, string> {
  const routes = (input as { routes?: unknown } | null)?.routes;
  const out: Record<string, string> = {};
  if (!routes || typeof routes !== 'object') return out;
  // One verify schema for every route: each scheme's options schema is built once.
  const verifySchema = buildVerifySchema();
  for (const route of Object.values(routes as Record<string, { verify?: unknown }>)) {
    const parsed = verifySchema.safeParse(route?.verify);
    if (!parsed.success || !('secretEnv' in parsed.data) || !parsed.data.secretEnv) continue;
    for (const name of parsed.data.secretEnv) {
      if (env[name]) continue;
      const value = KNOWN[name] ?? `local-${name.toLowerCase().replace(/_/g, '-')}`;
      out[name] = parsed.data.scheme === 'standard-webhooks' ? `whsec_${Buffer.from(value).toString('base64')}` : value;
    }
  }
  return out;
}

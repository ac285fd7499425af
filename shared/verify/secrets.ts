import * as z from 'zod';

/**
 * An environment variable name, as Cloud Functions accepts them. Like every
 * options schema here, built by the scheme's options builder that uses it
 * (see `defineScheme`), not kept at module level.
 */
export const envName = () =>
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name such as GITHUB_WEBHOOK_SECRET');

/**
 * `secretEnv: NAME` or `secretEnv: [NEW, OLD]`: one or more environment
 * variables holding secrets. Several are accepted at once so a secret can be
 * rotated without downtime. Always parsed to a non-empty list.
 */
export const secretEnvList = () => {
  const name = envName();
  return z
    .union([name, z.array(name).min(1, 'expected at least one environment variable name')], {
      error: 'expected an environment variable name (or a list of them) holding the secret',
    })
    .transform((value) => (typeof value === 'string' ? [value] : value));
};

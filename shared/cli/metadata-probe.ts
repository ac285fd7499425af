/**
 * Before the CLI asks google-auth-library for a token from the metadata
 * server, it checks that one answers: the library's own probe takes seconds,
 * prints a MetadataLookupWarning and ends in a message that does not say
 * what to do. The metadata server is `GCE_METADATA_HOST` (the local stack's
 * emulator) or Google's 169.254.169.254, read from `process.env` by default
 * because that is the only place google-auth-library reads it.
 */
export const DEFAULT_METADATA_HOST = '169.254.169.254';

/** The metadata host the library would use. */
export function metadataHost(env: NodeJS.ProcessEnv = process.env): string {
  return env.GCE_METADATA_HOST || env.GCE_METADATA_IP || DEFAULT_METADATA_HOST;
}

/** True when a metadata server answers at the host `env` names, within `timeoutMs` (default 1 s). */
export async function metadataAnswers(
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 1000,
  fetchImpl: typeof fetch = fetch,
): Promise<boolean> {
  try {
    const res = await fetchImpl(`http://${metadataHost(env)}/computeMetadata/v1/instance/service-accounts/default/email`, {
      headers: { 'metadata-flavor': 'Google' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer();
    return res.headers.get('metadata-flavor') === 'Google';
  } catch {
    return false;
  }
}

/** The error text when neither a credential file nor a metadata server is to be had. */
export function noCredentialsMessage(env: NodeJS.ProcessEnv = process.env): string {
  const where = env.GCE_METADATA_HOST
    ? `the metadata server at GCE_METADATA_HOST=${env.GCE_METADATA_HOST} does not answer`
    : `no metadata server answers at ${DEFAULT_METADATA_HOST}`;
  return (
    `no credentials: no credential file (--credentials FILE, GOOGLE_APPLICATION_CREDENTIALS, or \`gcloud auth application-default login\`) and ${where}. ` +
    'Locally, `npm start` runs a metadata-server emulator that the CLI finds through .relay-local.json (or set GCE_METADATA_HOST=127.0.0.1:8081).'
  );
}

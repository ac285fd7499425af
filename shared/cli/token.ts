/**
 * `run-relay token --audience URL [--decode] [--curl]`: prints a Google ID
 * token for URL minted by whatever credential the relay itself would use
 * (ADC, or --credentials FILE / --impersonate SA), including workload identity
 * federation. The token goes to stdout only, because the user asked for it.
 */
import { decodeJwtClaims } from '../identity/jwt.js';
import { findCredentialsFile, resolveTokenSource } from '../identity/resolve.js';
import { CliError, type Command } from './main.js';
import { metadataAnswers, noCredentialsMessage } from './metadata-probe.js';

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function describeClaims(token: string, now: number): string {
  const claims = decodeJwtClaims(token);
  if (!claims) throw new Error('the credential returned something that is not a JWT');
  const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
  const expiry =
    exp === undefined
      ? { expires: 'unknown (no exp claim)' }
      : { expires: new Date(exp * 1000).toISOString(), expiresInSeconds: Math.round(exp - now / 1000) };
  return JSON.stringify({ ...claims, ...expiry }, null, 2);
}

export const tokenCommand: Command = {
  summary:
    'Print a Google ID token for an audience, minted with the credentials found (ADC, key file, impersonation or workload identity federation).',
  usage:
    'run-relay token --audience URL [--decode] [--curl] [--credentials FILE] [--impersonate SA_EMAIL] [--iam-endpoint URL]\n\n' +
    '  --audience URL        audience of the token (a Cloud Run URL or custom audience)\n' +
    '  --decode              print the claims and expiry instead of the token\n' +
    '  --curl                print a ready curl command for the audience URL\n' +
    '  --credentials FILE    credential JSON to use instead of Application Default Credentials\n' +
    '  --impersonate SA      mint the token for this service account through IAM Credentials\n' +
    "  --iam-endpoint URL    IAM Credentials base URL (default: from the credential file, else Google's)",
  options: {
    audience: { type: 'string' },
    decode: { type: 'boolean', default: false },
    curl: { type: 'boolean', default: false },
    credentials: { type: 'string' },
    impersonate: { type: 'string' },
    'iam-endpoint': { type: 'string' },
  },
  async run({ values, env, out }) {
    const audience = values.audience;
    if (typeof audience !== 'string' || audience === '') throw new CliError('--audience is required');
    if (values.decode && values.curl) throw new CliError('use either --decode or --curl, not both');
    const identity = {
      credentialsFile: typeof values.credentials === 'string' ? values.credentials : undefined,
      impersonate: typeof values.impersonate === 'string' ? values.impersonate : undefined,
      iamCredentialsEndpoint: typeof values['iam-endpoint'] === 'string' ? values['iam-endpoint'] : undefined,
    };
    const options = { env, credentialsFileVia: '--credentials' };
    const found = findCredentialsFile(identity, options);
    if (!found && !(await metadataAnswers())) throw new Error(`could not mint an ID token for ${audience}: ${noCredentialsMessage()}`);
    const credential = found ? `${found.path} (from ${found.via})` : 'the metadata server (no credential file found)';
    let token: string;
    try {
      const source = resolveTokenSource(identity, options);
      token = await source.fetchIdToken(audience);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`could not mint an ID token for ${audience} with ${credential}: ${reason}`, { cause: error });
    }
    if (values.decode) out(describeClaims(token, Date.now()));
    else if (values.curl) out(`curl -H ${shellQuote(`Authorization: Bearer ${token}`)} ${shellQuote(audience)}`);
    else out(token);
    return 0;
  },
};

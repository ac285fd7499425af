/**
 * A local IAM Credentials API (iamcredentials.googleapis.com) with the one
 * call the relay makes, `projects/-/serviceAccounts/SA:generateIdToken`. It
 * checks the caller's access token (issued by the local STS or OAuth
 * emulator) and that the caller holds `iam.serviceAccounts.getOpenIdToken`
 * on SA (an explicit grant), and then mints a Google-signed ID token for SA.
 */
import { countInto, mintGoogleIdToken, type AccessTokens } from './access-tokens.js';
import { listen, sendJson } from './http-util.js';
import type { SigningKey } from './jwt.js';

export interface IamCredentialsOptions {
  tokens: AccessTokens;
  /** The key ID tokens are signed with (the one targets trust). */
  key: SigningKey;
}

export interface IamCredentials {
  url: string;
  /** Lets `principal` (a service account email or a principal:// URI) mint ID tokens for `serviceAccount`. */
  grant(serviceAccount: string, principal: string): void;
  /** generateIdToken calls that returned a token, per audience. */
  idTokenRequests: Map<string, number>;
  /** Refused calls, by reason. */
  refused: Map<string, number>;
  /** Every ID token handed out, so tests can prove none leaks. */
  issued: string[];
  close(): Promise<void>;
}

const error = (code: number, status: string, message: string) => ({ error: { code, message, status } });

export async function startIamCredentials(options: IamCredentialsOptions): Promise<IamCredentials> {
  const grants = new Map<string, Set<string>>();
  const idTokenRequests = new Map<string, number>();
  const refused = new Map<string, number>();
  const issued: string[] = [];
  const server = await listen((req, res, body) => {
    const path = new URL(req.url ?? '/', 'http://iam').pathname;
    const match = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateIdToken$/.exec(path);
    if (req.method !== 'POST' || !match) return sendJson(res, 404, error(404, 'NOT_FOUND', 'not found'));
    const serviceAccount = decodeURIComponent(match[1]!);
    const header = req.headers.authorization;
    const caller = options.tokens.lookup(typeof header === 'string' ? header.replace(/^Bearer /i, '') : undefined);
    if (!caller) {
      countInto(refused, 'unauthenticated');
      return sendJson(res, 401, error(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.'));
    }
    const request = JSON.parse(body.toString('utf8') || '{}') as { audience?: string; delegates?: string[]; includeEmail?: boolean };
    // A delegation chain: caller -> delegates[0] -> ... -> serviceAccount, each link granted.
    const chain = [
      caller.principal,
      ...(request.delegates ?? []).map((d) => d.replace(/^projects\/-\/serviceAccounts\//, '')),
      serviceAccount,
    ];
    for (let i = 0; i + 1 < chain.length; i++) {
      if (!grants.get(chain[i + 1]!)?.has(chain[i]!)) {
        countInto(refused, 'permission_denied');
        return sendJson(
          res,
          403,
          error(403, 'PERMISSION_DENIED', `Permission 'iam.serviceAccounts.getOpenIdToken' denied on resource (or it may not exist).`),
        );
      }
    }
    if (!request.audience) {
      countInto(refused, 'invalid_argument');
      return sendJson(res, 400, error(400, 'INVALID_ARGUMENT', 'audience is required'));
    }
    countInto(idTokenRequests, request.audience);
    const token = mintGoogleIdToken(options.key, serviceAccount, request.audience);
    issued.push(token);
    sendJson(res, 200, { token });
  });
  return {
    url: server.url,
    grant(serviceAccount, principal) {
      if (!grants.has(serviceAccount)) grants.set(serviceAccount, new Set());
      grants.get(serviceAccount)!.add(principal);
    },
    idTokenRequests,
    refused,
    issued,
    close: server.close,
  };
}

/**
 * A stand-in for a private Cloud Run service: it refuses any request without
 * a valid Google-signed ID token for its audience (401, as Cloud Run does),
 * records what it received, and otherwise answers with a behaviour the test
 * chooses (default: 200 echoing a summary).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JsonWebKey } from 'node:crypto';
import { listen, sendJson } from './http-util.js';
import { verifyJwt } from './jwt.js';
import { EMULATOR_ISSUER } from './metadata-server.js';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  claims: Record<string, unknown>;
  at: number;
}

/** What the target does with an authenticated request; may answer itself. */
export type Behaviour = (req: ReceivedRequest, res: ServerResponse, count: number) => void | Promise<void>;

export interface PrivateTargetOptions {
  keys: () => readonly JsonWebKey[];
  /** Audience the target accepts; default its own origin. */
  audience?: string;
  /** Where the token is read: `authorization` (default) or `x-serverless-authorization`. */
  port?: number;
  behaviour?: Behaviour;
  /** Log each request to stdout (for npm start). */
  verbose?: boolean;
}

export interface PrivateTarget {
  url: string;
  audience: string;
  received: ReceivedRequest[];
  /** Requests refused for a missing or invalid token. */
  rejected: { reason: string; headers: IncomingMessage['headers'] }[];
  setBehaviour(behaviour: Behaviour): void;
  close(): Promise<void>;
}

export const echo: Behaviour = (req, res) =>
  sendJson(res, 200, { ok: true, path: req.path, bytes: req.body.length, idempotencyKey: req.headers['idempotency-key'] ?? null });

export async function startPrivateTarget(options: PrivateTargetOptions): Promise<PrivateTarget> {
  let behaviour = options.behaviour ?? echo;
  const received: ReceivedRequest[] = [];
  const rejected: PrivateTarget['rejected'] = [];
  let audience = options.audience ?? '';
  const server = await listen(async (req, res, body) => {
    const header = req.headers['x-serverless-authorization'] ?? req.headers['authorization'];
    const token = typeof header === 'string' && /^Bearer /i.test(header) ? header.slice(7).trim() : undefined;
    let claims: Record<string, unknown>;
    try {
      if (!token) throw new Error('no bearer token');
      claims = verifyJwt(token, { keys: options.keys(), audience, issuers: [EMULATOR_ISSUER, 'accounts.google.com'] });
    } catch (error) {
      rejected.push({ reason: (error as Error).message, headers: req.headers });
      if (options.verbose) console.log(`[target] 401 ${req.method} ${req.url}: ${(error as Error).message}`);
      res.writeHead(401, { 'content-type': 'text/html', 'www-authenticate': 'Bearer error="invalid_token"' });
      return res.end('<h1>Error: Unauthorized</h1><p>Your client does not have permission to the requested URL.</p>');
    }
    const record: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '/', headers: req.headers, body, claims, at: Date.now() };
    received.push(record);
    if (options.verbose) {
      console.log(
        `[target] ${req.method} ${req.url} from ${String(claims.email)} (aud ${String(claims.aud)}), idempotency-key ${String(req.headers['idempotency-key'])}, ${body.length} bytes`,
      );
    }
    await behaviour(record, res, received.length);
  }, options.port ?? 0);
  audience ||= server.url;
  return {
    url: server.url,
    audience,
    received,
    rejected,
    setBehaviour(next) {
      behaviour = next;
    },
    close: server.close,
  };
}

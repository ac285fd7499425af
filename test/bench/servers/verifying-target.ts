/**
 * Bench server: a private target that, like Cloud Run, refuses requests
 * without a valid Google-signed ID token for its audience (401). Unlike the
 * test emulator it remembers tokens it has verified (until they expire), so
 * its own cost per request stays small and the bench measures the relay.
 * It counts what it received, accepted and refused, and repeated
 * `Idempotency-Key`s (GET /__bench/counts), so a run can prove the work was done;
 * with RECORD_KEYS=1 also each accepted key and when it arrived (GET /__bench/keys),
 * for the async bench, which checks key sets and times acceptance → delivery.
 * Env: PORT, JWKS_URL (the metadata emulator's keys), AUDIENCE (default its origin), RECORD_KEYS.
 */
import { createServer } from 'node:http';
import type { JsonWebKey } from 'node:crypto';
import { verifyJwt } from '../../emulators/jwt.js';
import { EMULATOR_ISSUER } from '../../emulators/metadata-server.js';
import { COUNTS_PATH, createCounter, KEYS_PATH } from '../counts.js';

const port = Number(process.env.PORT ?? 0);
const audience = process.env.AUDIENCE || `http://127.0.0.1:${port}`;
const jwksUrl = process.env.JWKS_URL;
if (!jwksUrl) throw new Error('JWKS_URL is required');
const keys = ((await (await fetch(jwksUrl)).json()) as { keys: JsonWebKey[] }).keys;

/** token -> expiry (s since the epoch) of tokens already verified. */
const verified = new Map<string, number>();
const reply = Buffer.from('{"ok":true}');
const counter = createCounter({ recordKeys: process.env.RECORD_KEYS === '1' });

function check(header: string | undefined): string | undefined {
  const token = header && /^Bearer /i.test(header) ? header.slice(7).trim() : undefined;
  if (!token) return 'no bearer token';
  const exp = verified.get(token);
  if (exp !== undefined && exp > Date.now() / 1000) return undefined;
  try {
    const claims = verifyJwt(token, { keys, audience, issuers: [EMULATOR_ISSUER, 'accounts.google.com'] });
    if (verified.size > 1000) verified.clear();
    verified.set(token, Number(claims.exp));
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

const server = createServer((req, res) => {
  if (req.url === COUNTS_PATH)
    return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(counter.snapshot()));
  if (req.url === KEYS_PATH) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(counter.keys()));
  const header = req.headers['x-serverless-authorization'] ?? req.headers['authorization'];
  const problem = check(typeof header === 'string' ? header : undefined);
  req.on('data', () => {});
  req.on('end', () => {
    const key = req.headers['idempotency-key'];
    counter.record(typeof key === 'string' ? key : undefined, !problem);
    if (problem) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer error="invalid_token"' });
      res.end(problem);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': reply.length });
    res.end(reply);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1');

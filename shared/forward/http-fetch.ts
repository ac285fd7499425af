/**
 * A small `fetch` for forwarding, on node:http and node:https with
 * keep-alive agents. It does only what the forwarder needs: a method,
 * headers as a plain object, a Buffer or string body, an AbortSignal, and no
 * redirects (every answer is returned as it came). Gzip, deflate and brotli
 * bodies are decoded, as `fetch` does.
 *
 * Why not the global fetch: the Functions Framework runs each request in a
 * `domain`, and every promise and async resource created there pays for the
 * domain's bookkeeping. undici's fetch creates many per request (web
 * streams, promise chains), so under the framework it costs several times
 * what node:http does (see docs/bench.md: `npm run bench`, variants b and b2).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';

export interface HttpFetchOptions {
  /** Sockets per target host; default 256. */
  maxSockets?: number;
  /** Certificate authorities trusted for https targets; default Node's bundled roots. */
  ca?: string | Buffer;
}

const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

function decode(body: Buffer, encoding: string | undefined): Buffer {
  switch (encoding?.trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return gunzipSync(body);
    case 'deflate':
      return inflateSync(body);
    case 'br':
      return brotliDecompressSync(body);
    default:
      return body;
  }
}

function toResponse(answer: IncomingMessage, body: Buffer): Response {
  const headers = new Headers();
  const raw = answer.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const status = answer.statusCode ?? 502;
  const decoded = body.length > 0 ? decode(body, answer.headers['content-encoding']) : body;
  return new Response(NULL_BODY_STATUSES.has(status) ? null : decoded, { status, statusText: answer.statusMessage ?? '', headers });
}

function plainHeaders(headers: RequestInit['headers']): Record<string, string> {
  if (!headers) return {};
  if (headers instanceof Headers || Array.isArray(headers)) return Object.fromEntries(new Headers(headers));
  return headers as Record<string, string>;
}

/**
 * Creates a fetch-compatible function for the forwarder (the relay's default
 * outside tests). Network failures reject with `TypeError('fetch failed')`
 * whose `cause` carries the system error `code`, as undici's fetch does; an
 * aborted request rejects with the signal's reason.
 */
export function createHttpFetch(options: HttpFetchOptions = {}): typeof fetch {
  const maxSockets = options.maxSockets ?? 256;
  const agents = { http: new HttpAgent({ keepAlive: true, maxSockets }), https: new HttpsAgent({ keepAlive: true, maxSockets, ...(options.ca ? { ca: options.ca } : {}) }) };
  const httpFetch = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : input);
      const signal = init.signal ?? undefined;
      if (signal?.aborted) return reject(signal.reason);
      const secure = url.protocol === 'https:';
      if (!secure && url.protocol !== 'http:') return reject(new TypeError(`fetch failed: unsupported protocol ${url.protocol}`));
      const body = init.body === undefined || init.body === null ? undefined : typeof init.body === 'string' ? Buffer.from(init.body) : (init.body as Buffer);
      const headers: Record<string, string | number> = { ...plainHeaders(init.headers) };
      if (body !== undefined) headers['content-length'] = body.length;
      const req = (secure ? httpsRequest : httpRequest)({
        agent: secure ? agents.https : agents.http,
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port,
        method: init.method ?? 'GET',
        path: url.pathname + url.search,
        headers,
      });
      let settled = false;
      const onAbort = () => req.destroy(signal!.reason as Error);
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = () => {
        settled = true;
        signal?.removeEventListener('abort', onAbort);
      };
      const fail = (error: unknown) => {
        if (settled) return;
        settle();
        reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: error }));
      };
      req.on('error', fail);
      req.on('response', (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('error', fail);
        answer.on('close', () => {
          if (!answer.complete) fail(Object.assign(new Error('the connection closed before the answer was complete'), { code: 'ECONNRESET' }));
        });
        answer.on('end', () => {
          if (settled) return;
          settle();
          try {
            resolve(toResponse(answer, Buffer.concat(chunks)));
          } catch (error) {
            reject(new TypeError('fetch failed', { cause: error }));
          }
        });
      });
      req.end(body);
    });
  return httpFetch as typeof fetch;
}

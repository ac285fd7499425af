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
  /** Certificate authorities trusted for https targets (tests); default Node's bundled roots. */
  ca?: string | Buffer;
  /** Largest answer body kept, before and after decoding; default 32 MiB (Cloud Functions' own response cap). */
  maxResponseBytes?: number;
}

/** The request cannot be sent as given (a header name or value HTTP does not allow): retrying cannot help. */
export class RequestNotSendableError extends TypeError {
  override name = 'RequestNotSendableError';
}

/** The answer arrived but cannot be used (status outside 200..599, undecodable or oversized body). */
export class InvalidResponseError extends TypeError {
  override name = 'InvalidResponseError';
}

const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

function decode(body: Buffer, encoding: string | undefined, maxOutputLength: number): Buffer {
  // Codings apply in the order listed, so undo them from the last one.
  const codings = (encoding ?? '').split(',').map((c) => c.trim().toLowerCase()).filter((c) => c && c !== 'identity');
  let out = body;
  for (const coding of codings.reverse()) {
    try {
      if (coding === 'gzip' || coding === 'x-gzip') out = gunzipSync(out, { maxOutputLength });
      else if (coding === 'deflate') out = inflateSync(out, { maxOutputLength });
      else if (coding === 'br') out = brotliDecompressSync(out, { maxOutputLength });
      else throw new Error(`unsupported content-encoding ${coding}`);
    } catch (error) {
      throw new InvalidResponseError(`the answer's body could not be decoded (${coding})`, { cause: error });
    }
  }
  return out;
}

function toResponse(answer: IncomingMessage, body: Buffer, maxResponseBytes: number): Response {
  const status = answer.statusCode ?? 0;
  if (status < 200 || status > 599) throw new InvalidResponseError(`the answer's status ${status} is not a final HTTP status`);
  const headers = new Headers();
  const raw = answer.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const decoded = body.length > 0 ? decode(body, answer.headers['content-encoding'], maxResponseBytes) : body;
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
 * aborted request rejects with the signal's reason; a request that cannot be
 * sent rejects with {@link RequestNotSendableError}, an unusable answer with
 * {@link InvalidResponseError}.
 */
export function createHttpFetch(options: HttpFetchOptions = {}): typeof fetch {
  const maxSockets = options.maxSockets ?? 256;
  const maxResponseBytes = options.maxResponseBytes ?? 32 * 1024 * 1024;
  const agents = { http: new HttpAgent({ keepAlive: true, maxSockets }), https: new HttpsAgent({ keepAlive: true, maxSockets, ...(options.ca ? { ca: options.ca } : {}) }) };
  const httpFetch = (input: string | URL, init: RequestInit = {}): Promise<Response> =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input);
      const signal = init.signal ?? undefined;
      if (signal?.aborted) return reject(signal.reason);
      const secure = url.protocol === 'https:';
      if (!secure && url.protocol !== 'http:') return reject(new TypeError(`fetch failed: unsupported protocol ${url.protocol}`));
      const body = init.body === undefined || init.body === null ? undefined : typeof init.body === 'string' ? Buffer.from(init.body) : (init.body as Buffer);
      const headers: Record<string, string | number> = { ...plainHeaders(init.headers) };
      if (body !== undefined) headers['content-length'] = body.length;
      let req: ReturnType<typeof httpRequest>;
      try {
        req = (secure ? httpsRequest : httpRequest)({
          agent: secure ? agents.https : agents.http,
          protocol: url.protocol,
          hostname: url.hostname.replace(/^\[|\]$/g, ''),
          port: url.port,
          method: init.method ?? 'GET',
          path: url.pathname + url.search,
          headers,
        });
      } catch (error) {
        // node:http validates header names and values synchronously (ERR_INVALID_CHAR, ERR_INVALID_HTTP_TOKEN).
        return reject(new RequestNotSendableError(`the request cannot be sent: ${(error as Error).message}`, { cause: error }));
      }
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
        reject(signal?.aborted ? signal.reason : error instanceof InvalidResponseError ? error : new TypeError('fetch failed', { cause: error }));
      };
      req.on('error', fail);
      req.on('response', (answer) => {
        const chunks: Buffer[] = [];
        let received = 0;
        answer.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > maxResponseBytes) {
            fail(new InvalidResponseError(`the answer's body is larger than ${maxResponseBytes} bytes`));
            req.destroy();
            return;
          }
          chunks.push(chunk);
        });
        answer.on('error', fail);
        answer.on('close', () => {
          if (!answer.complete) fail(Object.assign(new Error('the connection closed before the answer was complete'), { code: 'ECONNRESET' }));
        });
        answer.on('end', () => {
          if (settled) return;
          settle();
          try {
            resolve(toResponse(answer, Buffer.concat(chunks), maxResponseBytes));
          } catch (error) {
            reject(error instanceof InvalidResponseError ? error : new InvalidResponseError('the answer could not be read', { cause: error }));
          }
        });
      });
      req.end(body);
    });
  return httpFetch as typeof fetch;
}

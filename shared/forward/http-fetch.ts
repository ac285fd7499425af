/**
 * The forwarder's HTTP client, on node:http and node:https with keep-alive
 * agents. It does only what the forwarder needs: a method, headers as a
 * plain object, a Buffer or string body, a cancel callback instead of an
 * AbortSignal, and no redirects (every answer is returned as it came). Gzip,
 * deflate and brotli bodies are decoded, as `fetch` does. Answers are the
 * small {@link HttpAnswer}, not web `Response` / `Headers`; `createHttpFetch`
 * wraps the same client in the `fetch` shape for callers that want it.
 *
 * Why not the global fetch: the Functions Framework runs each request in a
 * `domain`, and every promise and async resource created there pays for the
 * domain's bookkeeping. undici's fetch creates many per request (web
 * streams, promise chains), so under the framework it costs several times
 * what node:http does (see docs/bench.md: `npm run bench`, variants b and b2).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
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
  // The common answer has no Content-Encoding: nothing to split and undo.
  if (!encoding) return body;
  // Codings apply in the order listed, so undo them from the last one.
  const codings = (encoding ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c && c !== 'identity');
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

/** An answer's headers, read from node:http's parsed (lower-cased) headers; the subset of web `Headers` the relay uses. */
export class AnswerHeaders {
  constructor(private readonly parsed: IncomingHttpHeaders) {}

  /** The value of `name` (any case), repeated values joined with ", "; null when absent. */
  get(name: string): string | null {
    const value = this.parsed[name.toLowerCase()];
    return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
  }

  /** Calls `callback(value, name)` for each header, names lower-case, as `Headers.forEach` does. */
  forEach(callback: (value: string, name: string) => void): void {
    for (const name of Object.keys(this.parsed)) {
      const value = this.parsed[name];
      if (value !== undefined) callback(Array.isArray(value) ? value.join(', ') : value, name);
    }
  }
}

/** A target's answer: status, headers and the whole (decoded) body. */
export interface HttpAnswer {
  status: number;
  statusText: string;
  headers: AnswerHeaders;
  body: Buffer;
}

export interface HttpRequest {
  method: string;
  headers: Record<string, string>;
  body?: Buffer | string;
}

/** Lets the caller cancel a request in flight: `send` sets `cancel`, which rejects the request with `reason`. */
export interface Cancellation {
  cancel?: (reason: unknown) => void;
}

export interface HttpClient {
  /**
   * Sends one request and reads the whole answer. Network failures reject
   * with `TypeError('fetch failed')` whose `cause` carries the system error
   * `code`; a cancelled request rejects with the reason given; a request
   * that cannot be sent rejects with {@link RequestNotSendableError}, an
   * unusable answer with {@link InvalidResponseError}.
   */
  send(url: string, request: HttpRequest, cancellation?: Cancellation): Promise<HttpAnswer>;
}

function toAnswer(answer: IncomingMessage, body: Buffer, maxResponseBytes: number): HttpAnswer {
  const status = answer.statusCode ?? 0;
  if (status < 200 || status > 599) throw new InvalidResponseError(`the answer's status ${status} is not a final HTTP status`);
  const parsed = answer.headers;
  const decoded = NULL_BODY_STATUSES.has(status)
    ? Buffer.alloc(0)
    : body.length > 0
      ? decode(body, parsed['content-encoding'], maxResponseBytes)
      : body;
  return { status, statusText: answer.statusMessage ?? '', headers: new AnswerHeaders(parsed), body: decoded };
}

/** A URL's parts that node:http's request options take. */
interface Target {
  protocol: string;
  hostname: string;
  port: string;
  path: string;
}

/** Creates the forwarder's client (the relay's default outside tests); see {@link HttpClient}. */
export function createHttpClient(options: HttpFetchOptions = {}): HttpClient {
  const maxSockets = options.maxSockets ?? 256;
  const maxResponseBytes = options.maxResponseBytes ?? 32 * 1024 * 1024;
  const agents = {
    http: new HttpAgent({ keepAlive: true, maxSockets }),
    https: new HttpsAgent({ keepAlive: true, maxSockets, ...(options.ca ? { ca: options.ca } : {}) }),
  };
  // The last URL sent to, read into what node:http takes: a relay sends to the same URL request after request, so it
  // is parsed once rather than per request.
  let last: { input: string; url: Target } | undefined;
  const parsed = (input: string): Target => {
    if (last?.input === input) return last.url;
    const url = new URL(input);
    const target = {
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port,
      path: url.pathname + url.search,
    };
    last = { input, url: target };
    return target;
  };
  const send = (input: string, init: HttpRequest, cancellation?: Cancellation): Promise<HttpAnswer> =>
    new Promise<HttpAnswer>((resolve, reject) => {
      const url = parsed(input);
      const secure = url.protocol === 'https:';
      if (!secure && url.protocol !== 'http:') return reject(new TypeError(`fetch failed: unsupported protocol ${url.protocol}`));
      const body = init.body === undefined ? undefined : typeof init.body === 'string' ? Buffer.from(init.body) : init.body;
      // Content-Length goes on the request, not on a copy of the caller's headers (node copies them into the request
      // anyway), except with `Expect`, for which node writes the request's head at once.
      const copy = body !== undefined && hasHeader(init.headers, 'expect');
      const headers: Record<string, string | number> = copy ? { ...init.headers, 'content-length': body.length } : init.headers;
      let req: ReturnType<typeof httpRequest>;
      try {
        req = (secure ? httpsRequest : httpRequest)({
          agent: secure ? agents.https : agents.http,
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port,
          method: init.method,
          path: url.path,
          headers,
        });
        if (body !== undefined && !copy) req.setHeader('content-length', body.length);
      } catch (error) {
        // node:http validates header names and values synchronously (ERR_INVALID_CHAR, ERR_INVALID_HTTP_TOKEN).
        return reject(new RequestNotSendableError(`the request cannot be sent: ${(error as Error).message}`, { cause: error }));
      }
      let settled = false;
      const finish = () => {
        settled = true;
        if (cancellation) cancellation.cancel = undefined;
      };
      const fail = (error: unknown) => {
        if (settled) return;
        finish();
        reject(error instanceof InvalidResponseError ? error : new TypeError('fetch failed', { cause: error }));
      };
      if (cancellation) {
        cancellation.cancel = (reason: unknown) => {
          if (settled) return;
          finish();
          reject(reason);
          req.destroy();
        };
      }
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
          if (!answer.complete)
            fail(Object.assign(new Error('the connection closed before the answer was complete'), { code: 'ECONNRESET' }));
        });
        answer.on('end', () => {
          if (settled) return;
          finish();
          try {
            resolve(toAnswer(answer, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), maxResponseBytes));
          } catch (error) {
            reject(
              error instanceof InvalidResponseError ? error : new InvalidResponseError('the answer could not be read', { cause: error }),
            );
          }
        });
      });
      req.end(body);
    });
  return { send };
}

/** Whether `headers` has `name` (lower-case), in any case. */
function hasHeader(headers: Record<string, string>, name: string): boolean {
  for (const key in headers) if (key.length === name.length && key.toLowerCase() === name) return true;
  return false;
}

function plainHeaders(headers: RequestInit['headers']): Record<string, string> {
  if (!headers) return {};
  if (headers instanceof Headers || Array.isArray(headers)) return Object.fromEntries(new Headers(headers));
  return headers as Record<string, string>;
}

/** A web `Response` for an {@link HttpAnswer}, for the `fetch` shape. */
export function toResponse(answer: HttpAnswer): Response {
  const headers = new Headers();
  answer.headers.forEach((value, name) => headers.append(name, value));
  return new Response(NULL_BODY_STATUSES.has(answer.status) ? null : answer.body, {
    status: answer.status,
    statusText: answer.statusText,
    headers,
  });
}

/**
 * A fetch-compatible function over {@link createHttpClient}, for callers that
 * want the `fetch` shape (tests, the deploy check). Same errors as
 * {@link HttpClient.send}; an aborted request rejects with the signal's reason.
 */
export function createHttpFetch(options: HttpFetchOptions = {}): typeof fetch {
  return fetchOver(createHttpClient(options));
}

/** The `fetch` shape over a client: the signal becomes a cancellation. */
export function fetchOver(client: HttpClient): typeof fetch {
  const httpFetch = async (input: string | URL, init: RequestInit = {}): Promise<Response> => {
    const signal = init.signal ?? undefined;
    if (signal?.aborted) throw signal.reason;
    const body =
      init.body === undefined || init.body === null ? undefined : typeof init.body === 'string' ? init.body : (init.body as Buffer);
    const cancellation: Cancellation = {};
    const onAbort = () => cancellation.cancel?.(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return toResponse(
        await client.send(String(input), { method: init.method ?? 'GET', headers: plainHeaders(init.headers), body }, cancellation),
      );
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  };
  return httpFetch as typeof fetch;
}

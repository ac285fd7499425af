/**
 * Turns a Functions Framework (Express) request into the relay's plain
 * request, and the relay's response back into an Express response.
 */
import type { Request, Response } from '@google-cloud/functions-framework';
import { splitTarget, type RelayRequest, type RelayResponse } from '../shared/http.js';

/** Lower-cases header names and joins repeated values, as the core expects. */
export function toRelayRequest(req: Request): RelayRequest {
  // Node's parsed headers are already lower-cased, and every value is a string but `set-cookie`'s (an array): they are
  // used as they are, read-only, unless some value needs joining. Copying them on every request was pure garbage.
  const headers = allStrings(req.headers) ? (req.headers as Record<string, string>) : joinedHeaders(req.headers);
  // The front door has read the target with the same function (and refused one too long to split).
  const { path, query } = splitTarget(req.originalUrl) ?? { path: '/', query: '' };
  return {
    method: req.method,
    path,
    query,
    headers,
    rawBody: req.rawBody ?? Buffer.alloc(0),
    remoteAddress: req.socket.remoteAddress,
    protocol: req.protocol,
  };
}

function allStrings(headers: Request['headers']): boolean {
  for (const name in headers) if (typeof headers[name] !== 'string') return false;
  return true;
}

function joinedHeaders(incoming: Request['headers']): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

/** Writes the answer with one `writeHead` (status, headers and the body's length together) and one `end`. */
export function sendRelayResponse(res: Response, response: RelayResponse): void {
  const { status, body } = response;
  // 204 and 304 carry no body and no Content-Length (RFC 9110 8.6).
  const bodyless = status === 204 || status === 304 || status < 200;
  res.writeHead(
    status,
    bodyless
      ? response.headers
      : { ...response.headers, 'content-length': typeof body === 'string' ? Buffer.byteLength(body) : body.length },
  );
  res.end(bodyless ? undefined : body);
}

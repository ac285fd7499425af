/**
 * Bounds on what the relay will try to send a target. A request past one of
 * them can never be sent (targets and proxies refuse or reset it, and a reset
 * looks retryable), so it fails at once with `request_not_sendable`: a sync
 * sender gets 502, a Pub/Sub delivery is parked instead of looping.
 */

/** Longest path and query, in bytes (8 KiB: what common servers and proxies accept in a request line). */
export const MAX_PATH_BYTES = 8 * 1024;
/** Longest single header value, in bytes (16 KiB: Node's whole default header limit). */
export const MAX_HEADER_VALUE_BYTES = 16 * 1024;
/** Most bytes of all header names and values together (64 KiB). */
export const MAX_HEADERS_BYTES = 64 * 1024;

/** Why a request with this path and these headers can never be sent, or undefined when it can. */
export function unsendableReason(path: string, headers: Readonly<Record<string, string>>): string | undefined {
  const pathBytes = Buffer.byteLength(path, 'utf8');
  if (pathBytes > MAX_PATH_BYTES) return `its path is ${pathBytes} bytes, over the ${MAX_PATH_BYTES}-byte limit`;
  let total = 0;
  // Keys, not entries: no [name, value] pair made per header on every request.
  for (const name of Object.keys(headers)) {
    const value = headers[name]!;
    const bytes = Buffer.byteLength(value, 'latin1');
    if (bytes > MAX_HEADER_VALUE_BYTES) return `header ${name} is ${bytes} bytes, over the ${MAX_HEADER_VALUE_BYTES}-byte limit`;
    total += name.length + bytes;
  }
  if (total > MAX_HEADERS_BYTES) return `its headers are ${total} bytes, over the ${MAX_HEADERS_BYTES}-byte limit`;
  return undefined;
}

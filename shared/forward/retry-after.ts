/**
 * Parses a `Retry-After` value (delay in seconds, or an HTTP date) into
 * milliseconds from `now`. Returns undefined for absent or unreadable values.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!/^[A-Za-z]{3},/.test(trimmed)) return undefined; // HTTP-date starts with the day name
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

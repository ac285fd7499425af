import * as z from 'zod';
import { RelayError } from '../errors.js';

/** Default tolerance for signed timestamps, both directions, in seconds. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** `toleranceSeconds` option of every scheme that signs a timestamp (built by the scheme's options builder). */
export const toleranceSeconds = () => z.number().int().min(1).max(86_400).default(DEFAULT_TOLERANCE_SECONDS);

/**
 * Parses a signed Unix timestamp (seconds) and checks it lies within
 * `tolerance` seconds of `now` (ms), in either direction. Throws 401
 * `unauthorized` for a missing or malformed value and 401
 * `timestamp_out_of_tolerance` for a stale or future one.
 */
export function checkTimestamp(value: string | undefined, now: number, tolerance: number, name: string): number {
  if (value === undefined || value === '')
    throw new RelayError('unauthorized', `Missing ${name}`, { details: { reason: 'timestamp_missing' } });
  if (!/^\d{1,12}$/.test(value.trim()))
    throw new RelayError('unauthorized', `Malformed ${name}`, { details: { reason: 'timestamp_malformed' } });
  const seconds = Number(value.trim());
  const skew = Math.abs(now / 1000 - seconds);
  if (skew > tolerance) {
    throw new RelayError('timestamp_out_of_tolerance', `${name} is ${Math.round(skew)} s away from now; the tolerance is ${tolerance} s`, {
      details: { timestamp: seconds, toleranceSeconds: tolerance },
    });
  }
  return seconds;
}

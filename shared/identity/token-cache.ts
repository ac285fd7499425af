/**
 * A per-audience ID token cache with single-flight fetches.
 *
 * - Concurrent requests for a cold audience share ONE fetch.
 * - Within `refreshAheadMs` of expiry, callers get the still-valid token at
 *   once while one background fetch replaces it.
 * - `invalidate()` drops a token the target refused, so the next caller fetches.
 * - A failed fetch surfaces as RelayError `token_unavailable` (retryable),
 *   never as a target failure.
 */
import { RelayError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { jwtExpiryMs } from './jwt.js';
import type { IdTokenSource } from './token-source.js';

export interface TokenCacheOptions {
  source: IdTokenSource;
  /** Start a background refresh when less than this remains; default 5 min. */
  refreshAheadMs?: number;
  /** Never hand out a token with less than this left; default 30 s. */
  minRemainingMs?: number;
  /** Lifetime assumed when a token has no readable `exp`; default 55 min. */
  fallbackTtlMs?: number;
  /** Clock in ms since the epoch; default Date.now. */
  now?: () => number;
  logger?: Logger;
}

interface Entry {
  token?: string;
  expiresAt: number;
  pending?: Promise<string>;
}

export interface TokenCache {
  /** A valid ID token for `audience`, fetching only when needed. */
  get(audience: string): Promise<string>;
  /**
   * The cached token for `audience` when one is valid, without waiting (and
   * starting the same background refresh `get` would); undefined when `get`
   * would have to fetch. Lets the hot path skip a promise.
   */
  peek?(audience: string): string | undefined;
  /** Forgets `token` for `audience` (only if it is still the cached one). */
  invalidate(audience: string, token: string): void;
  /** Number of fetches started, per audience (for tests and benchmarks). */
  readonly fetchCounts: ReadonlyMap<string, number>;
}

/** Creates a token cache; see {@link TokenCacheOptions} for defaults. */
export function createTokenCache(options: TokenCacheOptions): TokenCache {
  const { source } = options;
  const refreshAheadMs = options.refreshAheadMs ?? 5 * 60_000;
  const minRemainingMs = options.minRemainingMs ?? 30_000;
  const fallbackTtlMs = options.fallbackTtlMs ?? 55 * 60_000;
  const now = options.now ?? Date.now;
  const logger = options.logger ?? silentLogger;
  const entries = new Map<string, Entry>();
  const fetchCounts = new Map<string, number>();

  const fetchFor = (audience: string, entry: Entry): Promise<string> => {
    if (entry.pending) return entry.pending;
    fetchCounts.set(audience, (fetchCounts.get(audience) ?? 0) + 1);
    const started = now();
    const pending = source
      .fetchIdToken(audience)
      .then((token) => {
        if (typeof token !== 'string' || token.length === 0) throw new Error('the credential returned an empty ID token');
        entry.token = token;
        entry.expiresAt = jwtExpiryMs(token) ?? started + fallbackTtlMs;
        logger.log('DEBUG', 'ID token fetched', { audience, latencyMs: now() - started });
        return token;
      })
      .catch((error: unknown) => {
        const credential = source.describe?.() ?? 'unknown credential';
        logger.error('ID token fetch failed', { audience, credential, error });
        if (error instanceof RelayError) throw error;
        // The audience is in the log line above; the message may reach a public sender.
        throw new RelayError('token_unavailable', 'Could not obtain an ID token for the target', { cause: error });
      })
      .finally(() => {
        entry.pending = undefined;
      });
    entry.pending = pending;
    return pending;
  };

  const cached = (audience: string, entry: Entry | undefined): string | undefined => {
    if (!entry?.token) return undefined;
    const remaining = entry.expiresAt - now();
    if (remaining <= minRemainingMs) return undefined;
    if (remaining < refreshAheadMs && !entry.pending) {
      // Refresh in the background; the current token stays in use until it lands.
      fetchFor(audience, entry).catch(() => {});
    }
    return entry.token;
  };

  return {
    async get(audience) {
      let entry = entries.get(audience);
      if (!entry) {
        entry = { expiresAt: 0 };
        entries.set(audience, entry);
      }
      return cached(audience, entry) ?? fetchFor(audience, entry);
    },
    peek: (audience) => cached(audience, entries.get(audience)),
    invalidate(audience, token) {
      const entry = entries.get(audience);
      if (entry?.token === token) {
        entry.token = undefined;
        entry.expiresAt = 0;
      }
    },
    fetchCounts,
  };
}

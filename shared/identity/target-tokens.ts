/**
 * Per-target token caches: targets with the same identity share one
 * {@link TokenCache} (one single-flight cache per credential), and the relay
 * keeps asking by audience as before. Two targets with the same audience but
 * different identities would make "the token for this audience" ambiguous, so
 * that is refused at start-up.
 */
import { ConfigError } from '../config/load.js';
import type { TargetConfig } from '../config/schema.js';
import { RelayError } from '../errors.js';
import type { Logger } from '../log.js';
import { IdentityError } from './identity-error.js';
import type { IdentityConfig } from './identity-schema.js';
import { createTokenCache, type TokenCache, type TokenCacheOptions } from './token-cache.js';
import type { IdTokenSource } from './token-source.js';
import { audienceOf } from '../forward/targets.js';

export interface TargetTokensOptions {
  /** Source for targets without `identity` (ADC). */
  defaultSource: IdTokenSource;
  /** Builds the source for an explicit identity; may throw (reported as a config error). */
  resolve: (identity: IdentityConfig) => IdTokenSource;
  logger?: Logger;
  cache?: Omit<TokenCacheOptions, 'source' | 'logger'>;
  /** Config source, for error messages. */
  configSource?: string;
}

export interface TargetTokens extends TokenCache {
  /** The cache (and credential) serving each audience. */
  readonly byAudience: ReadonlyMap<string, TokenCache & { credential: string }>;
}

/** Builds the audience-routed token caches for `targets`; throws ConfigError for an unusable identity. */
export function createTargetTokens(
  targets: Record<string, TargetConfig & { identity?: IdentityConfig }>,
  options: TargetTokensOptions,
): TargetTokens {
  const caches = new Map<string, TokenCache & { credential: string }>();
  const byAudience = new Map<string, TokenCache & { credential: string }>();
  const owner = new Map<string, { target: string; key: string }>();
  const issues: { path: string; message: string }[] = [];

  const cacheFor = (key: string, source: IdTokenSource) => {
    let cache = caches.get(key);
    if (!cache) {
      cache = Object.assign(createTokenCache({ ...options.cache, source, logger: options.logger }), {
        credential: source.describe?.() ?? key,
      });
      caches.set(key, cache);
    }
    return cache;
  };
  const fallback = () => cacheFor('(adc)', options.defaultSource);

  for (const [name, target] of Object.entries(targets)) {
    const audience = audienceOf(target);
    const key = target.identity ? JSON.stringify(target.identity) : '(adc)';
    const previous = owner.get(audience);
    if (previous && previous.key !== key) {
      issues.push({
        path: `targets.${name}.identity`,
        message: `target "${previous.target}" has the same audience ${audience} with a different identity; give both the same identity or set distinct audiences`,
      });
      continue;
    }
    owner.set(audience, { target: name, key });
    if (!target.identity) {
      byAudience.set(audience, fallback());
      continue;
    }
    let cache = caches.get(key);
    if (!cache) {
      try {
        cache = cacheFor(key, options.resolve(target.identity));
      } catch (error) {
        issues.push({ path: `targets.${name}.identity`, message: error instanceof Error ? error.message : String(error) });
        continue;
      }
    }
    byAudience.set(audience, cache);
  }
  if (issues.length) throw new ConfigError(options.configSource ?? '(inline)', issues);

  const route = (audience: string) => byAudience.get(audience) ?? fallback();
  return {
    // Callers (webhook senders) learn only that no token could be had; the
    // credential, file and reason went to the log with the cache's error line.
    get: (audience) =>
      route(audience)
        .get(audience)
        .catch((error: unknown) => {
          throw new IdentityError(
            'Could not obtain an ID token for the target',
            error instanceof RelayError ? error.retryable : true,
            error,
          );
        }),
    peek: (audience) => byAudience.get(audience)?.peek?.(audience),
    invalidate: (audience, token) => route(audience).invalidate(audience, token),
    get fetchCounts() {
      const counts = new Map<string, number>();
      for (const cache of caches.values()) for (const [aud, n] of cache.fetchCounts) counts.set(aud, (counts.get(aud) ?? 0) + n);
      return counts;
    },
    byAudience,
  };
}

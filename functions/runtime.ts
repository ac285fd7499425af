/**
 * Wires the relay's core to the real world once per instance: config from
 * the file, ID tokens from Application Default Credentials, logs to stdout.
 */
import { loadConfig, type LoadedConfig } from '../shared/config/load.js';
import { createHttpFetch } from '../shared/forward/http-fetch.js';
import { createTokenCache, type TokenCache } from '../shared/identity/token-cache.js';
import { googleAuthTokenSource, type IdTokenSource } from '../shared/identity/token-source.js';
import { createLogger, type Logger } from '../shared/log.js';
import { createRelay, type Relay } from '../shared/relay.js';

export interface Runtime {
  loaded: LoadedConfig;
  logger: Logger;
  tokens: TokenCache;
  relay: Relay;
}

export interface RuntimeOptions {
  env?: NodeJS.ProcessEnv;
  loaded?: LoadedConfig;
  source?: IdTokenSource;
  write?: (line: string) => void;
  /** How targets are called; default a keep-alive node:http client (see shared/forward/http-fetch.ts). */
  fetch?: typeof fetch;
}

/** Builds everything a function instance needs; throws ConfigError for a bad config. */
export function createRuntime(options: RuntimeOptions = {}): Runtime {
  const env = options.env ?? process.env;
  const loaded = options.loaded ?? loadConfig(env);
  const logger = createLogger({ secrets: loaded.secrets.values(), write: options.write });
  const tokens = createTokenCache({ source: options.source ?? googleAuthTokenSource(), logger });
  const relay = createRelay(loaded, { tokens, logger, fetch: options.fetch ?? createHttpFetch() });
  return { loaded, logger, tokens, relay };
}

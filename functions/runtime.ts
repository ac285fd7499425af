/**
 * Wires the relay's core to the real world once per instance: config from
 * the file, ID tokens from Application Default Credentials, logs to stdout.
 */
import { loadConfig, type LoadedConfig } from '../shared/config/load.js';
import { createTokenCache, type TokenCache } from '../shared/identity/token-cache.js';
import { googleAuthTokenSource, type IdTokenSource } from '../shared/identity/token-source.js';
import { createLogger, type Logger } from '../shared/log.js';
import { createRelay, type Relay } from '../shared/relay.js';
import { createDeliverer, type Deliverer } from '../shared/delivery/deliver.js';
import { pubSubPublisher, type Publisher } from '../shared/pubsub/publisher.js';

export interface Runtime {
  loaded: LoadedConfig;
  logger: Logger;
  tokens: TokenCache;
  relay: Relay;
  publisher: Publisher;
  deliverer: Deliverer;
}

export interface RuntimeOptions {
  env?: NodeJS.ProcessEnv;
  loaded?: LoadedConfig;
  source?: IdTokenSource;
  write?: (line: string) => void;
  fetch?: typeof fetch;
  /** Default: the real Pub/Sub publisher, loaded on first publish. */
  publisher?: Publisher;
}

/** Builds everything a function instance needs; throws ConfigError for a bad config. */
export function createRuntime(options: RuntimeOptions = {}): Runtime {
  const env = options.env ?? process.env;
  const loaded = options.loaded ?? loadConfig(env);
  const logger = createLogger({ secrets: loaded.secrets.values(), write: options.write });
  const tokens = createTokenCache({ source: options.source ?? googleAuthTokenSource(), logger });
  const publisher = options.publisher ?? pubSubPublisher({ projectId: loaded.config.projectId, env });
  const relay = createRelay(loaded, { tokens, logger, fetch: options.fetch, publisher });
  const deliverer = createDeliverer(loaded, { tokens, logger, fetch: options.fetch, publisher });
  return { loaded, logger, tokens, relay, publisher, deliverer };
}

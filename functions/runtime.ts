/**
 * Wires the relay's core to the real world once per instance: settings and
 * config from the environment and the file, ID tokens from Application
 * Default Credentials, logs to stdout. The composition root: the only place
 * the functions read the environment; everything below gets plain settings.
 */
import { loadConfig, type LoadedConfig } from '../shared/config/load.js';
import { lazySource, resolveTokenSource, type ResolveOptions } from '../shared/identity/resolve.js';
import { createTargetTokens } from '../shared/identity/target-tokens.js';
import { clientOverFetch } from '../shared/forward/forward.js';
import { createHttpClient } from '../shared/forward/http-fetch.js';
import { resolveTargets } from '../shared/forward/targets.js';
import { createTargetGuards, type TargetGuards } from '../shared/forward/target-guard.js';
import { firestoreDedupeStore } from '../shared/dedupe/firestore-store.js';
import type { DedupeStore } from '../shared/dedupe/store.js';
import { usesDedupeStore } from '../shared/config/dedupe-schema.js';
import { createTokenCache, type TokenCache } from '../shared/identity/token-cache.js';
import type { IdTokenSource } from '../shared/identity/token-source.js';
import { createLogger, type Logger } from '../shared/log.js';
import { createRelay, type Relay } from '../shared/relay.js';
import { createDeliverer, type Deliverer } from '../shared/delivery/deliver.js';
import { pubSubOptionsOf, pubSubPublisher, type Publisher } from '../shared/pubsub/publisher.js';
import { parseSettings, type Settings } from '../shared/settings.js';

export interface Runtime {
  /** The settings parsed from the environment, once. */
  settings: Settings;
  loaded: LoadedConfig;
  logger: Logger;
  tokens: TokenCache;
  relay: Relay;
  publisher: Publisher;
  deliverer: Deliverer;
  /** This instance's per-target circuits and caps, shared by both functions. */
  guards: TargetGuards;
  /**
   * Starts fetching an ID token for every configured target's audience, in
   * the background: called at start-up, the metadata round trips overlap the
   * framework starting its server instead of delaying the first relayed
   * answer. Failures are logged by the token cache and retried on first use.
   */
  prefetchTokens(): void;
}

export interface RuntimeOptions {
  /** The environment settings and secrets are read from, once; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Overrides the settings parsed from `env` (tests). */
  settings?: Partial<Settings>;
  loaded?: LoadedConfig;
  source?: IdTokenSource;
  write?: (line: string) => void;
  /** How targets are called; default a keep-alive node:http client (see shared/forward/http-fetch.ts). */
  fetch?: typeof fetch;
  /** How identities are resolved (tests redirect Google endpoints here); env defaults to `settings.credentials`. */
  identity?: ResolveOptions;
  /** Default: the real Pub/Sub publisher, loaded on first publish. */
  publisher?: Publisher;
  /** Default, when a route or target has `dedupe:`: Firestore (`dedupeStore:`), loaded on first use. */
  dedupeStore?: DedupeStore;
}

/** Builds everything a function instance needs; throws ConfigError for a bad config. */
export function createRuntime(options: RuntimeOptions = {}): Runtime {
  const env = options.env ?? process.env;
  const settings: Settings = { ...parseSettings(env), ...options.settings };
  const loaded = options.loaded ?? loadConfig(env);
  const logger = createLogger({ secrets: loaded.secrets.values(), write: options.write, level: settings.logLevel });
  const identity: ResolveOptions = { env: settings.credentials, ...options.identity };
  // One source for everything when given (tests); else per-target identities, ADC for the rest.
  const tokens = options.source
    ? createTokenCache({ source: options.source, logger })
    : createTargetTokens(loaded.config.targets, {
        defaultSource: lazySource(() => resolveTokenSource(undefined, identity)),
        resolve: (config) => resolveTokenSource(config, identity),
        logger,
        configSource: loaded.source,
      });
  const publisher = options.publisher ?? pubSubPublisher(pubSubOptionsOf(loaded.config.projectId, settings));
  // A keep-alive node:http client: several times cheaper per request than undici's fetch under the framework.
  const client = options.fetch ? clientOverFetch(options.fetch) : createHttpClient();
  const targets = resolveTargets(loaded.config.targets);
  // One set of circuits and caps per instance, whichever function calls the target.
  const guards = createTargetGuards(loaded.config.targets, { logger });
  const { dedupeStore: store } = loaded.config;
  const dedupeStore =
    options.dedupeStore ??
    (usesDedupeStore(loaded.config)
      ? firestoreDedupeStore({
          projectId: loaded.config.projectId ?? settings.projectId,
          database: store.database,
          collection: store.collection,
          emulatorHost: settings.firestoreEmulatorHost,
        })
      : undefined);
  const { logTraffic } = settings;
  const relay = createRelay(loaded, { tokens, logger, client, publisher, settings, targets, guards, dedupeStore, logTraffic });
  const deliverer = createDeliverer(loaded, { tokens, logger, client, publisher, targets, guards, dedupeStore, logTraffic });
  const audiences = new Set([...targets.values()].map((t) => t.audience));
  const prefetchTokens = () => {
    for (const audience of audiences) tokens.get(audience).catch(() => {});
  };
  return { settings, loaded, logger, tokens, relay, publisher, deliverer, guards, prefetchTokens };
}

/**
 * The function this process serves, as the Functions Framework reads it:
 * `--target=NAME` / `--target NAME` on the command line, else FUNCTION_TARGET
 * (set by Cloud Functions). Undefined when neither says.
 */
export function frameworkTarget(argv: readonly string[], env: NodeJS.ProcessEnv): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('--target=')) return arg.slice('--target='.length);
    if (arg === '--target') return argv[i + 1];
  }
  return env.FUNCTION_TARGET || undefined;
}

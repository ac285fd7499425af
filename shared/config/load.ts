/**
 * Reads, parses and validates the relay's config file, once, at cold start.
 */
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parseYaml } from './yaml.js';
import { secretRefsOf } from '../verify/registry.js';
import { checkConfig, type Issue } from './check.js';
import type { RelayConfig } from './schema.js';

export const DEFAULT_CONFIG_PATH = 'relay.config.yaml';

/** A config that cannot be used; `issues` names each bad key path. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly issues: Issue[],
  ) {
    super(`Invalid relay config ${source}:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`);
  }
}

export interface LoadedConfig {
  config: RelayConfig;
  /** Secret values by environment variable name, read once. */
  secrets: ReadonlyMap<string, string>;
  source: string;
}

/**
 * Validates a parsed config object without reading any secret (what
 * `run-relay deploy` needs). Throws {@link ConfigError} listing every problem.
 */
export function validateConfig(input: unknown, source = '(inline)'): RelayConfig {
  const { config, issues } = checkConfig(input, null);
  if (!config) throw new ConfigError(source, issues);
  return config;
}

/**
 * Validates a parsed config object and reads the secrets it references from
 * `env` (default: none; entry points pass their environment).
 * Throws {@link ConfigError} listing every problem at once: shape, references,
 * cron, time zones and unset secrets in one list.
 */
export function parseConfig(input: unknown, env: Readonly<Record<string, string | undefined>> = {}, source = '(inline)'): LoadedConfig {
  const { config, issues } = checkConfig(input, env);
  if (!config || issues.length > 0) throw new ConfigError(source, issues);
  const secrets = new Map<string, string>();
  for (const { env: envName } of secretRefsOf(config.routes)) secrets.set(envName, env[envName]!);
  return { config, secrets, source };
}

/** The path `RELAY_CONFIG` names (default `relay.config.yaml`), resolved against `cwd`. */
export function configPath(env: Readonly<Record<string, string | undefined>>, cwd = process.cwd()): string {
  return resolve(cwd, env.RELAY_CONFIG || DEFAULT_CONFIG_PATH);
}

/** Reads and parses a config file (`.json` as JSON, anything else as YAML), not yet validated. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new ConfigError(path, [{ path: '', message: `cannot read config (${reason}); set RELAY_CONFIG to its path` }]);
  }
  try {
    return extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError(path, [{ path: '', message: `cannot parse: ${(error as Error).message}` }]);
  }
}

/**
 * Loads the config named by `RELAY_CONFIG` (default `relay.config.yaml` in the
 * working directory) and reads its secrets from `env`.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, cwd = process.cwd()): LoadedConfig {
  const path = configPath(env, cwd);
  return parseConfig(readConfigFile(path), env, path);
}

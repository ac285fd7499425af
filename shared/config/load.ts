/**
 * Reads, parses and validates the relay's config file, once, at cold start.
 */
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { secretRefsOf } from '../verify/registry.js';
import { configSchema, MISSING_VERIFY_MESSAGE, type RelayConfig } from './schema.js';

export const DEFAULT_CONFIG_PATH = 'relay.config.yaml';

/** A config that cannot be used; `issues` names each bad key path. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly issues: { path: string; message: string }[],
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

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code === 'invalid_key') {
    // zod reports "Invalid key in record"; the nested issue says what a key must look like.
    return issue.issues.map((inner) => inner.message).join('; ') || issue.message;
  }
  if (issue.code === 'invalid_type' && issue.path.at(-1) === 'verify' && issue.path[0] === 'routes' && valueAt(input, issue.path) === undefined) {
    return MISSING_VERIFY_MESSAGE;
  }
  return issue.message;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let node: unknown = input;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/**
 * Validates a parsed config object without reading any secret (what
 * `run-relay deploy` needs). Throws {@link ConfigError} listing every problem.
 */
export function validateConfig(input: unknown, source = '(inline)'): RelayConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(
      source,
      result.error.issues.map((issue) => ({ path: formatPath(issue.path), message: describeIssue(issue, input) })),
    );
  }
  return result.data;
}

/**
 * Validates a parsed config object and reads the secrets it references from
 * `env` (default: none; entry points pass their environment).
 * Throws {@link ConfigError} listing every problem at once.
 */
export function parseConfig(input: unknown, env: Readonly<Record<string, string | undefined>> = {}, source = '(inline)'): LoadedConfig {
  const config = validateConfig(input, source);
  const secrets = new Map<string, string>();
  const missing: { path: string; message: string }[] = [];
  for (const { env: envName, path } of secretRefsOf(config.routes)) {
    const value = env[envName];
    if (value === undefined || value === '') {
      missing.push({ path, message: `environment variable ${envName} is not set (secrets are read from the environment; on Cloud Functions mount the Secret Manager secret as ${envName})` });
    } else {
      secrets.set(envName, value);
    }
  }
  if (missing.length > 0) throw new ConfigError(source, missing);
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

/**
 * The local stack's state file, `.relay-local.json` in the working tree
 * (gitignored): `npm start` writes it once everything answers and removes it
 * on exit; every CLI command reads it, so `npm run relay -- dlq list` needs no
 * environment prefix next to a running `npm start`.
 *
 * Shape (version 1), all URLs on loopback:
 *
 * ```json
 * {
 *   "version": 1,
 *   "pid": 4242,                         // the npm start process; a dead pid makes the file stale
 *   "startedAt": "2026-12-03T09:00:00.000Z",
 *   "configPath": "/abs/deploy/local/relay.config.yaml",
 *   "projectId": "local-project",
 *   "urls": {
 *     "webhook": "http://127.0.0.1:8080",  // the webhook function; routes are POST /<route>
 *     "pubsub": "http://127.0.0.1:8083",   // the pubsub function (absent without the emulator)
 *     "metadata": "http://127.0.0.1:8081", // metadata-server emulator
 *     "target": "http://127.0.0.1:8082"    // demo private target
 *   },
 *   "pubsubEmulatorHost": "127.0.0.1:8085", // absent when the emulator could not start
 *   "topics": { "delivery": "relay-deliveries", "deadLetter": "relay-dead-letters", "deadLetterSubscription": "relay-dead-letters-inbox" },
 *   "env": { "RELAY_CONFIG": "...", "GITHUB_WEBHOOK_SECRET": "local-...", "PUBSUB_EMULATOR_HOST": "...", "GCE_METADATA_HOST": "...", "GOOGLE_CLOUD_PROJECT": "...", "RELAY_URL": "..." }
 * }
 * ```
 *
 * `env` is what a CLI command adds to its environment: only the variables
 * the environment does not already set, so an explicit `FOO=... npm run relay`
 * always wins. Secrets in it are the local stack's own throwaway values.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const LOCAL_STATE_FILE = '.relay-local.json';

export interface LocalState {
  version: 1;
  pid: number;
  startedAt: string;
  configPath: string;
  projectId: string;
  urls: { webhook: string; pubsub?: string; metadata: string; target: string; [name: string]: string | undefined };
  pubsubEmulatorHost?: string;
  topics: { delivery: string; deadLetter: string; deadLetterSubscription: string };
  env: Record<string, string>;
}

export interface ReadStateOptions {
  /** Where to start looking; parents are searched too. Default process.cwd(). */
  cwd?: string;
  /** Whether a pid is alive; default `process.kill(pid, 0)`. */
  isAlive?: (pid: number) => boolean;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The state file nearest to `cwd` (this directory or a parent), or undefined. */
export function findLocalStateFile(cwd = process.cwd()): string | undefined {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const path = join(dir, LOCAL_STATE_FILE);
    if (existsSync(path)) return path;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Reads the running local stack's state: undefined when there is no state
 * file, it is not a version-1 state, or the `npm start` that wrote it is gone.
 *
 * @example
 * const state = readLocalState();
 * if (state) await fetch(`${state.urls.webhook}/healthz`);
 */
export function readLocalState(options: ReadStateOptions = {}): LocalState | undefined {
  const path = findLocalStateFile(options.cwd);
  if (!path) return undefined;
  let state: LocalState;
  try {
    state = JSON.parse(readFileSync(path, 'utf8')) as LocalState;
  } catch {
    return undefined;
  }
  if (state?.version !== 1 || typeof state.pid !== 'number' || typeof state.env !== 'object') return undefined;
  return (options.isAlive ?? alive)(state.pid) ? state : undefined;
}

/** Writes the state file into `dir`; returns its path. */
export function writeLocalState(state: LocalState, dir: string): string {
  const path = join(dir, LOCAL_STATE_FILE);
  writeFileSync(path, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  return path;
}

/** Removes the state file in `dir` if this process wrote it. */
export function removeLocalState(dir: string, pid = process.pid): void {
  const path = join(dir, LOCAL_STATE_FILE);
  try {
    if ((JSON.parse(readFileSync(path, 'utf8')) as LocalState).pid === pid) rmSync(path);
  } catch {
    /* gone already */
  }
}

/** `env` with the state's variables added where `env` sets none (empty counts as unset). */
export function withLocalState(env: NodeJS.ProcessEnv, state: LocalState | undefined): NodeJS.ProcessEnv {
  if (!state) return env;
  const out: NodeJS.ProcessEnv = { ...env };
  for (const [name, value] of Object.entries(state.env)) if (out[name] === undefined || out[name] === '') out[name] = value;
  return out;
}

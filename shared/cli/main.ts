/**
 * `run-relay` command line: `npm run relay -- <command> [options]`.
 * Each command lives in its own module and is listed in COMMANDS.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readLocalState, withLocalState, type LocalState } from './local-state.js';

export interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Runs the command; returns the exit code. Throw CliError for a user mistake. */
  run(args: {
    values: Record<string, unknown>;
    positionals: string[];
    env: NodeJS.ProcessEnv;
    out: (line: string) => void;
  }): Promise<number>;
}

/** A mistake the user can fix; printed without a stack, exit code 2. */
export class CliError extends Error {
  override name = 'CliError';
}

interface Entry {
  /** One line for the top-level help (kept here so `--help` loads no command module). */
  summary: string;
  /** True when the command works against the local stack, so it reads `.relay-local.json`. */
  local: boolean;
  load: () => Promise<Command>;
}

export const COMMANDS: Record<string, Entry> = {
  send: {
    summary: "sign a body as a route's sender would and POST it to the relay",
    local: true,
    load: async () => (await import('./send.js')).sendCommand(),
  },
  validate: {
    summary: 'check a config: every problem at once (shape, references, cron, time zones, secrets)',
    local: true,
    load: async () => (await import('./validate.js')).validateCommand,
  },
  dlq: { summary: 'list, show and replay dead-lettered deliveries', local: true, load: async () => (await import('./dlq.js')).dlqCommand },
  schedule: {
    summary: 'list schedules, or publish one tick of a schedule now',
    local: true,
    load: async () => (await import('./schedule.js')).scheduleCommand,
  },
  token: {
    summary: 'print a Google ID token for an audience, from the credentials the relay would use',
    local: true,
    load: async () => (await import('./token.js')).tokenCommand,
  },
  'consumer-key': {
    summary: 'generate a consumer key and the config entry holding its digest',
    local: false,
    load: async () => (await import('./consumer-key.js')).consumerKeyCommand,
  },
  deploy: {
    summary: 'print, apply, check or destroy the Google Cloud setup the config describes',
    local: false,
    load: async () => (await import('./deploy.js')).deployCommand(),
  },
};

function help(out: (line: string) => void): void {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  out('run-relay: verified webhooks, schedules and Pub/Sub events to private Cloud Run services.\n');
  out('Usage: run-relay <command> [options]\n\nCommands:');
  for (const [name, entry] of Object.entries(COMMANDS)) out(`  ${name.padEnd(width)}  ${entry.summary}`);
  out("\nRun `run-relay <command> --help` for a command's options.");
  out('Next to a running `npm start`, commands find the local stack through .relay-local.json; variables set in the environment win.');
  out('\nInstall: in a clone, `npm run relay -- <command>` (no build needed); or `npm pack` there and');
  out('`npm install -g ./run-relay-<version>.tgz` for a `run-relay` on your PATH.');
}

export interface MainOptions {
  /** The local stack's state; default read from `.relay-local.json` near the working directory. */
  localState?: () => LocalState | undefined;
}

/**
 * Runs one command. Local commands see `env` plus the running local stack's
 * variables (only those `env` leaves unset). When `env` is `process.env`, the
 * process environment gains them too: google-auth-library reads
 * `GCE_METADATA_HOST` from there and nowhere else.
 */
export async function main(
  argv = process.argv.slice(2),
  env = process.env,
  out = (line: string) => console.log(line),
  options: MainOptions = {},
): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    help(out);
    return name ? 0 : 2;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    console.error(`Unknown command "${name}".`);
    help(out);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    out(`${command.summary}\n\nUsage: ${command.usage}`);
    return 0;
  }
  let effective = env;
  if (entry.local) {
    effective = withLocalState(env, (options.localState ?? readLocalState)());
    if (env === process.env) for (const [k, v] of Object.entries(effective)) if (!process.env[k] && v) process.env[k] = v;
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
    return await command.run({ values, positionals, env: effective, out });
  } catch (error) {
    if (error instanceof CliError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`run-relay ${name}: ${(error as Error).message}\nUsage: ${command.usage}`);
      return 2;
    }
    if (error instanceof Error && error.name === 'ConfigError') {
      console.error(`run-relay ${name}: ${error.message}\n(\`run-relay validate\` lists every problem of the config.)`);
      return 2;
    }
    console.error(`run-relay ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

/**
 * `run-relay` command line: `npm run relay -- <command> [options]`.
 * Each command lives in its own module and is listed in COMMANDS.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Runs the command; returns the exit code. Throw CliError for a user mistake. */
  run(args: { values: Record<string, unknown>; positionals: string[]; env: NodeJS.ProcessEnv; out: (line: string) => void }): Promise<number>;
}

/** A mistake the user can fix; printed without a stack, exit code 2. */
export class CliError extends Error {
  override name = 'CliError';
}

export const COMMANDS: Record<string, () => Promise<Command>> = {
  token: async () => (await import('./token.js')).tokenCommand,
  'consumer-key': async () => (await import('./consumer-key.js')).consumerKeyCommand,
  dlq: async () => (await import('./dlq.js')).dlqCommand,
  schedule: async () => (await import('./schedule.js')).scheduleCommand,
  deploy: async () => (await import('./deploy.js')).deployCommand(),
};

function help(out: (line: string) => void): void {
  out('Usage: run-relay <command> [options]\n\nCommands:');
  for (const name of Object.keys(COMMANDS).sort()) out(`  ${name}`);
  out('\nRun `run-relay <command> --help` for a command\'s options.');
}

export async function main(argv = process.argv.slice(2), env = process.env, out = (line: string) => console.log(line)): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    help(out);
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`Unknown command "${name}".`);
    help(out);
    return 2;
  }
  const command = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    out(`${command.summary}\n\nUsage: ${command.usage}`);
    return 0;
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
    return await command.run({ values, positionals, env, out });
  } catch (error) {
    if (error instanceof CliError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`run-relay ${name}: ${(error as Error).message}\nUsage: ${command.usage}`);
      return 2;
    }
    console.error(`run-relay ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

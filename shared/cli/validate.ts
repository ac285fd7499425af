/**
 * `run-relay validate [--config FILE] [--no-secrets]`: every problem of a
 * config at once (shape, references, cron, time zones, unset secrets), one
 * per line with its key path; exit 2 when there is any.
 */
import { resolve } from 'node:path';
import { checkConfig } from '../config/check.js';
import { configPath, ConfigError, readConfigFile } from '../config/load.js';
import { CliError, type Command } from './main.js';

export const validateCommand: Command = {
  summary: 'Check a config and list every problem at once; exit 2 when there is any.',
  usage:
    'run-relay validate [--config FILE] [--no-secrets]\n\n' +
    "  --config FILE   default: $RELAY_CONFIG (the running npm start's config), else relay.config.yaml\n" +
    '  --no-secrets    do not check that the secrets the routes name are set (e.g. before a deploy)',
  options: { config: { type: 'string' }, 'no-secrets': { type: 'boolean' } },
  async run({ values, positionals, env, out }) {
    if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"`);
    const file = typeof values.config === 'string' ? resolve(values.config) : configPath(env);
    let input: unknown;
    try {
      input = readConfigFile(file);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      console.error(error.message);
      return 2;
    }
    const { config, issues } = checkConfig(input, values['no-secrets'] ? null : env);
    if (issues.length > 0) {
      console.error(new ConfigError(file, issues).message);
      console.error(`${issues.length} problem${issues.length === 1 ? '' : 's'}.`);
      return 2;
    }
    const count = (o: object, what: string) => `${Object.keys(o).length} ${what}${Object.keys(o).length === 1 ? '' : 's'}`;
    out(
      `${file}: OK (${count(config!.routes, 'route')}, ${count(config!.targets, 'target')}, ${count(config!.topics, 'topic')}, ${count(config!.schedules, 'schedule')})`,
    );
    return 0;
  },
};

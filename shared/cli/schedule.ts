/**
 * `run-relay schedule list` and `run-relay schedule run NAME`: publish one
 * tick of a schedule now, to the delivery topic (the emulator's when
 * PUBSUB_EMULATOR_HOST is set).
 */
import { loadConfig } from '../config/load.js';
import { pubSubPublisher, pubSubOptionsOf } from '../pubsub/publisher.js';
import { parseSettings } from '../settings.js';
import { publishTick } from '../schedule/schedule.js';
import { CliError, type Command } from './main.js';

export const scheduleCommand: Command = {
  summary: 'List schedules, or publish one tick of a schedule now.',
  usage: 'run-relay schedule list | run-relay schedule run NAME',
  options: {},
  async run({ positionals, env, out }) {
    const [action, name] = positionals;
    const { config } = loadConfig(env);
    if (action === 'list') {
      for (const [n, s] of Object.entries(config.schedules)) {
        out(`${n}\t${s.cron}\t${s.timeZone}\t${s.route ? `route ${s.route}` : s.forward!.map((f) => f.target).join(',')}`);
      }
      return 0;
    }
    if (action !== 'run' || !name) throw new CliError('expected `list` or `run NAME`');
    if (!Object.hasOwn(config.schedules, name))
      throw new CliError(`no schedule named "${name}"; expected one of: ${Object.keys(config.schedules).join(', ') || '(none)'}`);
    const publisher = pubSubPublisher(pubSubOptionsOf(config.projectId, parseSettings(env)));
    try {
      const ids = await publishTick(config, publisher, name);
      out(`Published a tick of "${name}" to ${config.pubsub.deliveryTopic}: ${ids.join(', ')}`);
      return 0;
    } finally {
      await publisher.close();
    }
  },
};

import { describe, expect, it } from 'vitest';
import { checkConfig } from '../../shared/config/check.js';
import { ConfigError, parseConfig } from '../../shared/config/load.js';

/** A config with one problem of every kind, where the shape errors used to hide the rest. */
const BROKEN = {
  targets: { demo: { url: 'http://127.0.0.1:8082' } },
  routes: {
    shapeless: { forward: [] },
    github: { verify: { scheme: 'github', secretEnv: 'GITHUB_WEBHOOK_SECRET' }, forward: [{ target: 'nope' }] },
  },
  schedules: { nightly: { cron: '61 * * * *', timeZone: 'Mars/Olympus', route: 'missing' } },
};

describe('checkConfig', () => {
  it('reports shape, references, cron, time zone and unset secrets in one list', () => {
    const { config, issues } = checkConfig(BROKEN, {});
    expect(config).toBeUndefined();
    expect(issues.map((i) => i.path)).toEqual([
      'routes.shapeless.verify',
      'routes.shapeless.forward',
      'routes.github.forward[0].target',
      'schedules.nightly.route',
      'schedules.nightly.cron',
      'schedules.nightly.timeZone',
      'routes.github.verify.secretEnv',
    ]);
    expect(issues.find((i) => i.path === 'routes.github.verify.secretEnv')!.message).toContain('GITHUB_WEBHOOK_SECRET is not set');
  });

  it('checks references and secrets of a config whose shape is sound, each once', () => {
    const { config, issues } = checkConfig({ ...BROKEN, routes: { github: BROKEN.routes.github } }, {});
    expect(config).toBeUndefined();
    expect(issues).toHaveLength(5);
    expect(new Set(issues.map((i) => `${i.path}|${i.message}`)).size).toBe(5);
  });

  it('leaves secrets alone when env is null (deploy) and passes a sound config', () => {
    const sound = { targets: BROKEN.targets, routes: { github: { ...BROKEN.routes.github, forward: [{ target: 'demo' }] } } };
    expect(checkConfig(sound, null).issues).toEqual([]);
    expect(checkConfig(sound, {}).issues.map((i) => i.path)).toEqual(['routes.github.verify.secretEnv']);
    expect(checkConfig(sound, { GITHUB_WEBHOOK_SECRET: 's' }).config?.routes.github?.forward[0]?.target).toBe('demo');
  });

  it('makes parseConfig (cold start, npm start) throw all of them at once', () => {
    let error: unknown;
    try {
      parseConfig(BROKEN, {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toHaveLength(7);
  });
});

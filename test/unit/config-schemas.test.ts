/**
 * The config's zod schemas are built when a config is checked and not kept
 * after (issue 11): each schema instance costs a few KiB of live heap for the
 * life of the process, and peak RSS several times that. These pin that no
 * module keeps one at module level and that a check builds each part once.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkConfig } from '../../shared/config/check.js';
import { github } from '../../shared/verify/github.js';
import { bearer } from '../../shared/verify/bearer.js';

const MODULES = {
  'config/schema': () => import('../../shared/config/schema.js'),
  'config/delivery-schema': () => import('../../shared/config/delivery-schema.js'),
  'config/dedupe-schema': () => import('../../shared/config/dedupe-schema.js'),
  'deploy/deploy-schema': () => import('../../shared/deploy/deploy-schema.js'),
  'identity/identity-schema': () => import('../../shared/identity/identity-schema.js'),
  'contract/contract': () => import('../../shared/contract/contract.js'),
  envelope: () => import('../../shared/envelope.js'),
  'verify/registry': () => import('../../shared/verify/registry.js'),
  'verify/secrets': () => import('../../shared/verify/secrets.js'),
  'verify/timestamp': () => import('../../shared/verify/timestamp.js'),
  'verify/consumer-keys': () => import('../../shared/verify/consumer-keys.js'),
};

const isZodSchema = (value: unknown) => value !== null && typeof value === 'object' && '_zod' in value;

const route = (verify: unknown) => ({ verify, forward: [{ target: 'svc' }] });
const targets = { svc: { url: 'https://svc.example.com' } };

afterEach(() => vi.restoreAllMocks());

describe('config schemas', () => {
  it('are not kept in any module export', async () => {
    for (const [name, load] of Object.entries(MODULES)) {
      const exported = Object.entries(await load()).filter(([, value]) => isZodSchema(value));
      expect(exported.map(([key]) => `${name}.${key}`)).toEqual([]);
    }
    const { SCHEMES } = await import('../../shared/verify/registry.js');
    for (const scheme of SCHEMES) expect(Object.values(scheme).filter(isZodSchema)).toEqual([]);
  });

  it("build each scheme's options schema once per check, however many routes name it, and again for the next check", () => {
    const options = vi.spyOn(github, 'options');
    const config = {
      targets,
      routes: { a: route({ scheme: 'github', secretEnv: 'A' }), b: route({ scheme: 'github', secretEnv: 'B' }) },
    };
    expect(checkConfig(config, null).issues).toEqual([]);
    expect(options).toHaveBeenCalledTimes(1);
    expect(checkConfig(config, null).issues).toEqual([]);
    expect(options).toHaveBeenCalledTimes(2);
  });

  it('build them once also for a config of the wrong shape, whose verify blocks are read again for unset secrets', () => {
    const options = vi.spyOn(github, 'options');
    const keys = vi.spyOn(bearer, 'options');
    const config = {
      targets,
      routes: {
        a: route({ scheme: 'github', secretEnv: 'A' }),
        b: { ...route({ scheme: 'github', secretEnv: 'B' }), maxBodyBytes: 0 },
        c: route({ scheme: 'bearer', secretEnv: 'C' }),
      },
    };
    const { config: parsed, issues } = checkConfig(config, {});
    expect(parsed).toBeUndefined();
    expect(issues.map((i) => i.path)).toEqual([
      'routes.b.maxBodyBytes',
      'routes.a.verify.secretEnv',
      'routes.b.verify.secretEnv',
      'routes.c.verify.secretEnv',
    ]);
    expect(options).toHaveBeenCalledTimes(1);
    expect(keys).toHaveBeenCalledTimes(1);
  });
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { COMMANDS, main } from '../../shared/cli/main.js';

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const spy = vi.spyOn(console, 'error').mockImplementation((line: unknown) => void err.push(String(line)));
  try {
    const code = await main(args, env, (line) => out.push(line), { localState: () => undefined });
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    spy.mockRestore();
  }
}

describe('run-relay --help', () => {
  it('lists every command with its one-line description, and says how to install', async () => {
    const { code, out } = await cli(['--help']);
    expect(code).toBe(0);
    for (const [name, entry] of Object.entries(COMMANDS))
      expect(out).toMatch(new RegExp(`^  ${name} +${entry.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    expect(out).toContain('npm install -g ./run-relay-<version>.tgz');
    expect(out).toContain('npm run relay -- <command>');
  });

  it('exits 2 with the same list when no command is given', async () => {
    const { code, out } = await cli([]);
    expect(code).toBe(2);
    expect(out).toContain('  send ');
  });
});

describe('run-relay validate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-validate-'));
  const file = join(dir, 'relay.config.json');

  it('lists every problem of the file with its key path and exits 2', async () => {
    writeFileSync(
      file,
      JSON.stringify({
        targets: {},
        routes: {
          a: { forward: [{ target: 'x' }] },
          b: { verify: { scheme: 'github', secretEnv: 'B_SECRET' }, forward: [{ target: 'y' }] },
        },
        schedules: { s: { cron: 'x', route: 'a' } },
      }),
    );
    const { code, err } = await cli(['validate', '--config', file]);
    expect(code).toBe(2);
    for (const path of [
      'routes.a.verify',
      'routes.a.forward[0].target',
      'routes.b.forward[0].target',
      'schedules.s.cron',
      'routes.b.verify.secretEnv',
    ])
      expect(err).toContain(`  - ${path}: `);
    expect(err).toContain('5 problems.');
  });

  it('makes other commands exit 2 on a bad config and point at validate', async () => {
    writeFileSync(file, JSON.stringify({ targets: {}, routes: { a: { forward: [] } } }));
    const { code, err } = await cli(['send', 'a'], { RELAY_CONFIG: file });
    expect(code).toBe(2);
    expect(err).toContain('routes.a.verify');
    expect(err).toContain('`run-relay validate` lists every problem');
  });

  it('prints one OK line for a sound config, with --no-secrets for secrets set elsewhere', async () => {
    writeFileSync(
      file,
      JSON.stringify({
        targets: { t: { url: 'https://t.example.com' } },
        routes: { b: { verify: { scheme: 'github', secretEnv: 'B_SECRET' }, forward: [{ target: 't' }] } },
      }),
    );
    expect((await cli(['validate', '--config', file])).code).toBe(2);
    const ok = await cli(['validate', '--config', file, '--no-secrets']);
    expect(ok.code).toBe(0);
    expect(ok.out).toBe(`${file}: OK (1 route, 1 target, 0 topics, 0 schedules)`);
    expect((await cli(['validate'], { RELAY_CONFIG: file, B_SECRET: 's' })).code).toBe(0);
  });
});

import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { deployCommand } from '../../shared/cli/deploy.js';
import type { Command as GcloudArgs } from '../../shared/deploy/command.js';
import type { GcloudResult } from '../../shared/deploy/gcloud.js';
import { parseRunUrl, targetService } from '../../shared/deploy/target-service.js';
import { REPO } from './example-plans.js';

const dir = mkdtempSync(join(tmpdir(), 'deploy-validate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `deploy` on `yaml` (written into a scratch source dir) with a gcloud that records calls; nothing is ever run. */
async function deploy(yaml: string, args: string[] = []) {
  const source = mkdtempSync(join(dir, 'src-'));
  writeFileSync(join(source, 'relay.config.yaml'), yaml);
  const calls: GcloudArgs[] = [];
  const gcloud = async (argv: GcloudArgs): Promise<GcloudResult> => {
    calls.push(argv);
    return { code: 0, stdout: '123456789012\n', stderr: '' };
  };
  const out: string[] = [];
  const errors: string[] = [];
  const spy = vi.spyOn(console, 'error').mockImplementation((line: string) => void errors.push(line));
  try {
    const command = deployCommand({ gcloud, cwd: source });
    const values: Record<string, unknown> = { project: 'my-proj', region: 'us-central1', 'project-number': '123456789012' };
    for (const arg of args) {
      const [key, value] = arg.replace(/^--/, '').split('=') as [string, string?];
      values[key] = value ?? true;
    }
    const code = await command.run({ values, positionals: [], env: {}, out: (line) => out.push(line) });
    return { code, calls, out: out.join('\n'), errors: errors.join('\n') };
  } finally {
    spy.mockRestore();
  }
}

const ROUTE = `
routes:
  hook:
    verify: { scheme: github, secretEnv: GITHUB_WEBHOOK_SECRET }
    forward: [{ target: t }]
`;

describe('configs that cannot be deployed stop with a clear message before anything runs', () => {
  it.each([
    {
      what: 'a target whose Cloud Run service cannot be determined',
      yaml: `targets:\n  t: { url: https://api.example.com }\n${ROUTE}`,
      expected: [
        /targets\.t\.url: cannot tell which Cloud Run service this is: api\.example\.com is not a Cloud Run URL/,
        /targets\.t\.cloudRun: \{ service: SERVICE, region: REGION, project: PROJECT \}/,
        /gcloud run services add-iam-policy-binding projects\/PROJECT\/locations\/REGION\/services\/SERVICE --member=serviceAccount:run-relay@my-proj\.iam\.gserviceaccount\.com --role=roles\/run\.invoker/,
      ],
    },
    {
      what: 'a Cloud Run URL of the hashed form',
      yaml: `targets:\n  t: { url: https://orders-x7k2p9q4ra-uc.a.run.app }\n${ROUTE}`,
      expected: [/orders-x7k2p9q4ra-uc\.a\.run\.app is a Cloud Run URL of the hashed form/],
    },
    {
      what: 'a secret with no name',
      yaml: `targets:\n  t: { url: https://t-123456789.us-central1.run.app }\n${ROUTE}deploy:\n  secrets:\n    GITHUB_WEBHOOK_SECRET: ""\n`,
      expected: [/deploy\.secrets\.GITHUB_WEBHOOK_SECRET: expected a secret name/],
    },
    {
      what: 'a secret with only a version',
      yaml: `targets:\n  t: { url: https://t-123456789.us-central1.run.app }\n${ROUTE}deploy:\n  secrets:\n    GITHUB_WEBHOOK_SECRET: ":3"\n`,
      expected: [/deploy\.secrets\.GITHUB_WEBHOOK_SECRET: expected a secret name/],
    },
    {
      what: 'a secret mapping no route reads',
      yaml: `targets:\n  t: { url: https://t-123456789.us-central1.run.app }\n${ROUTE}deploy:\n  secrets:\n    GITHUB_SECRET: github\n`,
      expected: [/deploy\.secrets\.GITHUB_SECRET: no route reads a secret from GITHUB_SECRET; expected one of: GITHUB_WEBHOOK_SECRET/],
    },
    {
      what: 'a schedule with an invalid cron',
      yaml: `targets:\n  t: { url: https://t-123456789.us-central1.run.app }\nschedules:\n  nightly: { cron: "61 * * * *", forward: [{ target: t }] }\n`,
      expected: [/schedules\.nightly\.cron: invalid cron/],
    },
    {
      what: 'a schedule with an unknown time zone',
      yaml: `targets:\n  t: { url: https://t-123456789.us-central1.run.app }\nschedules:\n  nightly: { cron: "0 3 * * *", timeZone: Mars/Olympus, forward: [{ target: t }] }\n`,
      expected: [/schedules\.nightly\.timeZone: unknown time zone "Mars\/Olympus"/],
    },
    {
      what: 'a loopback target',
      yaml: `targets:\n  t: { url: "http://127.0.0.1:8082" }\n${ROUTE}`,
      expected: [/targets\.t\.url: http:\/\/127\.0\.0\.1:8082 is this machine; a deployed relay cannot reach it/],
    },
    {
      what: 'a credential file',
      yaml: `targets:\n  t: { url: https://t-123456789.us-central1.run.app, identity: { credentialsFile: key.json } }\n${ROUTE}`,
      expected: [/targets\.t\.identity\.credentialsFile: a credential file is not deployed with the source/],
    },
    {
      what: 'a projectId other than the project deployed to',
      yaml: `projectId: other-proj\ntargets:\n  t: { url: https://t-123456789.us-central1.run.app }\n${ROUTE}`,
      expected: [/projectId: is other-proj, but this deploys to my-proj/],
    },
    {
      what: 'two schedules whose job names collide',
      yaml: `targets:\n  t: { url: https://t-123456789.us-central1.run.app }\nschedules:\n  a.b: { cron: "0 3 * * *", forward: [{ target: t }] }\n  a-b: { cron: "0 4 * * *", forward: [{ target: t }] }\n`,
      expected: [/schedules\.a-b: its Cloud Scheduler job would be named run-relay-a-b, like schedule "a\.b"'s/],
    },
  ])('$what', async ({ yaml, expected }) => {
    const result = await deploy(yaml, ['--apply']);
    expect(result.code).toBe(2);
    for (const pattern of expected) expect(result.errors).toMatch(pattern);
    expect(result.out).toContain('Nothing was run.');
    expect(result.calls).toEqual([]);
  });

  it('reports every problem at once', async () => {
    const result = await deploy(
      `targets:\n  a: { url: https://api.example.com }\n  b: { url: "http://localhost:9" }\n${ROUTE.replace('target: t', 'target: a')}deploy:\n  secrets:\n    NOPE: x\n`,
      ['--apply'],
    );
    expect(result.code).toBe(2);
    expect(result.errors).toMatch(/targets\.a\.url[\s\S]*targets\.b\.url[\s\S]*deploy\.secrets\.NOPE/);
  });

  it('refuses a bad --project or --region', async () => {
    const result = await deploy(`targets:\n  t: { url: https://t-123456789.us-central1.run.app }\n`, [
      '--project=My_Project',
      '--region=mars',
    ]);
    expect(result.code).toBe(2);
    expect(result.errors).toMatch(/--project: expected a project id/);
    expect(result.errors).toMatch(/--region: expected a region such as us-central1, got "mars"/);
    expect(result.calls).toEqual([]);
  });

  it('refuses the built-in local example: its target is this machine', async () => {
    const calls: GcloudArgs[] = [];
    const errors: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((line: string) => void errors.push(line));
    try {
      const code = await deployCommand({ gcloud: async (argv) => (calls.push(argv), { code: 0, stdout: '', stderr: '' }), cwd: REPO }).run({
        values: { project: 'my-proj', region: 'us-central1', 'project-number': '1', config: 'deploy/local/relay.config.yaml' },
        positionals: [],
        env: {},
        out: () => {},
      });
      expect(code).toBe(2);
      expect(errors.join('\n')).toMatch(/targets\.demo\.url: http:\/\/127\.0\.0\.1:8082 is this machine/);
      expect(calls).toEqual([]);
    } finally {
      spy.mockRestore();
    }
  });

  it('refuses a config outside the uploaded source, or excluded from it', async () => {
    const source = mkdtempSync(join(dir, 'src-'));
    mkdirSync(join(source, 'test'));
    writeFileSync(join(source, '.gcloudignore'), '/test\n');
    writeFileSync(join(source, 'test', 'relay.config.yaml'), 'targets: {}\n');
    const command = deployCommand({ gcloud: async () => ({ code: 0, stdout: '', stderr: '' }), cwd: source });
    const run = (config: string) =>
      command.run({
        values: { project: 'my-proj', region: 'us-central1', 'project-number': '1', config },
        positionals: [],
        env: {},
        out: () => {},
      });
    await expect(run('test/relay.config.yaml')).rejects.toThrow(/excluded by .*\.gcloudignore, so it would not ship with the functions/);
    await expect(run(join(REPO, 'relay.config.yaml'))).rejects.toThrow(/is outside the source directory/);
  });
});

describe('which Cloud Run service a target is', () => {
  it.each([
    ['https://orders-123456789012.us-central1.run.app', { service: 'orders', project: '123456789012', region: 'us-central1' }],
    [
      'https://my-svc-2-123456789012.northamerica-northeast1.run.app/base',
      { service: 'my-svc-2', project: '123456789012', region: 'northamerica-northeast1' },
    ],
    ['https://orders-x7k2p9q4ra-uc.a.run.app', undefined],
    ['https://api.example.com', undefined],
    ['http://orders-123456789012.us-central1.run.app', undefined],
  ])('%s', (url, expected) => {
    expect(parseRunUrl(url)).toEqual(expected);
  });

  it("prefers the config's cloudRun over the URL, defaulting its project to the one deployed to", () => {
    const target = {
      url: 'https://orders-123456789012.us-central1.run.app',
      cloudRun: { service: 'orders-v2', region: 'europe-west1' },
    } as never;
    expect(targetService(target, 'my-proj')).toEqual({
      kind: 'service',
      service: { service: 'orders-v2', region: 'europe-west1', project: 'my-proj', from: 'config' },
    });
    expect(targetService({ url: 'https://x.example.com', cloudRun: 'manual' } as never, 'p')).toEqual({ kind: 'manual' });
  });
});

describe('deploy settings', () => {
  it('takes cpu as a number or a string, and refuses a size Cloud Run does not offer', async () => {
    const { validateConfig } = await import('../../shared/config/load.js');
    const base = { targets: { t: { url: 'https://t-123456789.us-central1.run.app' } } };
    expect(validateConfig({ ...base, deploy: { webhook: { cpu: 2 }, pubsub: { cpu: '0.5' } } }).deploy).toMatchObject({
      webhook: { cpu: '2' },
      pubsub: { cpu: '0.5' },
    });
    expect(validateConfig(base).deploy.webhook).toMatchObject({
      cpu: '1',
      memory: '512Mi',
      concurrency: 80,
      minInstances: 0,
      maxInstances: 100,
    });
    expect(() => validateConfig({ ...base, deploy: { webhook: { cpu: 3 } } })).toThrow(/deploy\.webhook\.cpu: expected 0\.5, 1, 2 or 4/);
  });
});

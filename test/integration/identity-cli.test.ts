import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../shared/cli/main.js';
import type { PrivateTarget } from '../emulators/private-target.js';
import { freePort } from '../support/free-port.js';
import { FEDERATED_SA, IMPERSONATED_SA, startIdentityStack, type IdentityStack } from '../support/identity-stack.js';

const run = promisify(execFile);
let stack: IdentityStack;
let target: PrivateTarget;
const savedEnv = { ...process.env };

beforeAll(async () => {
  stack = await startIdentityStack();
  process.env.GCE_METADATA_HOST = stack.metadata.host;
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  stack.iam.grant(FEDERATED_SA, stack.principal);
  stack.iam.grant(IMPERSONATED_SA, stack.metadata.serviceAccount);
  target = await stack.target();
});
afterAll(async () => {
  process.env = savedEnv;
  await stack.close();
});

/** Runs `run-relay token ...` in-process; HOME points at an empty dir so no gcloud ADC file is found. */
async function token(args: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const errors: string[] = [];
  const spy = vi.spyOn(console, 'error').mockImplementation((line: unknown) => void errors.push(String(line)));
  try {
    const code = await main(['token', ...args], { HOME: stack.dir, ...env }, (line) => out.push(line), { localState: () => undefined });
    return { code, out: out.join('\n'), err: errors.join('\n') };
  } finally {
    spy.mockRestore();
  }
}

const callTarget = (bearer: string) => fetch(target.url, { headers: { authorization: `Bearer ${bearer}` } });

describe('run-relay token', () => {
  it('prints an ID token the target accepts, from federation found through GOOGLE_APPLICATION_CREDENTIALS', async () => {
    const result = await token(['--audience', target.url], { GOOGLE_APPLICATION_CREDENTIALS: stack.externalAccountFile() });
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    expect((await callTarget(result.out)).status).toBe(200);
    expect(target.received.at(-1)!.claims.email).toBe(FEDERATED_SA);
  });

  it('impersonates a service account from the metadata server with --impersonate', async () => {
    const result = await token(['--audience', target.url, '--impersonate', IMPERSONATED_SA, '--iam-endpoint', stack.iam.url]);
    expect(result.code).toBe(0);
    expect((await callTarget(result.out)).status).toBe(200);
    expect(target.received.at(-1)!.claims.email).toBe(IMPERSONATED_SA);
  });

  it('names the metadata server and the missing grant when impersonation is refused', async () => {
    const result = await token([
      '--audience',
      target.url,
      '--impersonate',
      'nobody@local-project.iam.gserviceaccount.com',
      '--iam-endpoint',
      stack.iam.url,
    ]);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(
      /could not mint an ID token for .* with the metadata server \(no credential file found\): metadata server may not mint ID tokens for nobody@.*lacks iam\.serviceAccounts\.getOpenIdToken/,
    );
  });

  it('decodes a metadata-server token into claims with the audience, email and seconds left', async () => {
    const result = await token(['--audience', target.url, '--decode']);
    expect(result.code).toBe(0);
    expect(result.out).not.toMatch(/eyJ/);
    const claims = JSON.parse(result.out);
    expect(claims.aud).toBe(target.url);
    expect(claims.email).toBe(stack.metadata.serviceAccount);
    expect(claims.expiresInSeconds).toBeGreaterThan(3500);
    expect(claims.expiresInSeconds).toBeLessThanOrEqual(3600);
  });

  it('prints a curl command that reaches the private target as printed', async () => {
    process.env.GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES = '1';
    const result = await token(['--audience', target.url, '--curl', '--credentials', stack.externalAccountFile({ source: 'executable' })]);
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^curl -H 'Authorization: Bearer eyJ[^']+' '/);
    const { stdout } = await run('sh', ['-c', `${result.out} -s -o /dev/null -w '%{http_code}'`]);
    expect(stdout).toBe('200');
  });

  it('says which credential it found and what it lacks for a gcloud user login without --impersonate', async () => {
    const file = stack.writeJson('user.json', {
      type: 'authorized_user',
      client_id: 'id.apps.googleusercontent.com',
      client_secret: 'not-a-real-secret',
      refresh_token: 'not-a-real-refresh-token',
    });
    const result = await token(['--audience', target.url], { GOOGLE_APPLICATION_CREDENTIALS: file });
    expect(result.code).toBe(1);
    expect(result.err).toContain(`with ${file} (from GOOGLE_APPLICATION_CREDENTIALS)`);
    expect(result.err).toMatch(
      /a person's gcloud login, which cannot mint ID tokens for an audience of your choosing; set identity\.impersonate \(or --impersonate\)/,
    );
    expect(result.err).not.toContain('not-a-real');
  });

  it('names the --credentials flag, not a config key, when the file it names is unusable', async () => {
    const file = join(stack.dir, 'incomplete-key.json');
    writeFileSync(file, JSON.stringify({ type: 'service_account' }));
    const result = await token(['--audience', target.url, '--credentials', file]);
    expect(result.code).toBe(1);
    expect(result.err).toContain(`${file} (from --credentials)`);
    expect(result.err).not.toContain('identity.credentialsFile');
  });

  it('points at the local metadata emulator when there is no credential file and no metadata server', async () => {
    const saved = process.env.GCE_METADATA_HOST;
    process.env.GCE_METADATA_HOST = `127.0.0.1:${await freePort()}`;
    const warnings: string[] = [];
    const onWarning = (w: Error) => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const started = Date.now();
      const result = await token(['--audience', target.url]);
      expect(result.code).toBe(1);
      expect(result.err).toContain(`the metadata server at GCE_METADATA_HOST=${process.env.GCE_METADATA_HOST} does not answer`);
      expect(result.err).toContain('`npm start` runs a metadata-server emulator that the CLI finds through .relay-local.json');
      expect(Date.now() - started).toBeLessThan(2000);
      await new Promise((r) => setTimeout(r, 50));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      process.env.GCE_METADATA_HOST = saved;
    }
  });

  it('exits 2 with usage when --audience is missing', async () => {
    const result = await token([]);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/--audience is required\nUsage: run-relay token --audience URL/);
  });

  it('works as `npm run relay -- token` in a child process, printing only the token on stdout', async () => {
    const file = stack.externalAccountFile({ source: 'url' });
    const { stdout } = await run('npx', ['tsx', 'shared/cli/bin.ts', 'token', '--audience', target.url], {
      env: { ...process.env, GOOGLE_APPLICATION_CREDENTIALS: file, HOME: stack.dir },
    });
    expect(stdout.trim()).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    expect((await callTarget(stdout.trim())).status).toBe(200);
  });
});

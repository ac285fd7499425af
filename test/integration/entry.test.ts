/**
 * The deployed entry point, started the way Cloud Functions starts it: the
 * Functions Framework CLI from the repository root, loading `main` from
 * package.json (dist/functions/index.js, built by the global setup).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { githubSignature } from '../support/sign.js';
import { startFramework, type FrameworkProcess } from '../support/framework-process.js';

const root = resolve(import.meta.dirname, '../..');
let running: FrameworkProcess | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { RELAY_CONFIG: _ignored, ...env } = process.env;
  return { ...env, NODE_ENV: 'test', ...extra };
}

describe('the entry point under the Functions Framework CLI', () => {
  it('serves the webhook target from the repo root with relay.config.yaml', async () => {
    running = await startFramework({ cwd: root, args: ['--target=webhook'], env: baseEnv({ GITHUB_WEBHOOK_SECRET: 'entry-secret' }) });
    const health = await fetch(`${running.url}/healthz`);
    expect(health.status).toBe(200);
    const body = '{"zen":"hi"}';
    const wrong = await fetch(`${running.url}/github`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': githubSignature('not-it', body) },
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ error: { code: 'unauthorized', message: 'Signature does not match' } });
    // The front door is installed by the entry point: the framework's own HTML answers become JSON.
    const favicon = await fetch(`${running.url}/favicon.ico`);
    expect(favicon.status).toBe(404);
    expect(((await favicon.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });

  it('stops at start-up with every bad key path named when the config is wrong', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-config-'));
    const path = join(dir, 'bad.yaml');
    writeFileSync(
      path,
      [
        'targets:',
        '  orders:',
        '    url: http://orders.example.com',
        '    retry: { retries: -1 }',
        'routes:',
        '  github:',
        '    forward: [{ target: billing }]',
        '',
      ].join('\n'),
    );
    running = await startFramework({ cwd: root, args: ['--target=webhook'], env: baseEnv({ RELAY_CONFIG: path }) });
    expect(await running.exited).toBe(1);
    const out = running.output();
    expect(out).toContain('targets.orders.url: expected https://');
    expect(out).toContain('targets.orders.retry.retries');
    expect(out).toContain('routes.github.verify: expected a verify block');
    expect(out).not.toMatch(/\n\s+at .+:\d+:\d+/);
  });

  it('names the missing secret variable instead of starting without it', async () => {
    running = await startFramework({ cwd: root, args: ['--target=webhook'], env: baseEnv() });
    expect(await running.exited).toBe(1);
    expect(running.output()).toContain('routes.github.verify.secretEnv: environment variable GITHUB_WEBHOOK_SECRET is not set');
  });
});

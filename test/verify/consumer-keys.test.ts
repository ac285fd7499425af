import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { main } from '../../shared/cli/main.js';
import { keyDigest } from '../../shared/verify/consumer-keys.js';
import { outcome, verifierFor } from '../support/verifiers.js';

async function createKey(args: string[]) {
  const lines: string[] = [];
  const code = await main(['consumer-key', ...args], {}, (line) => lines.push(line));
  return { code, lines, key: lines.find((l) => l.trim().startsWith('rrk_'))?.trim(), entry: lines.find((l) => l.trim().startsWith('- {')) };
}

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

describe('consumer keys on the bearer scheme', () => {
  it('accepts a key made by the CLI once its printed config line is pasted, naming the consumer', async () => {
    const { code, key, entry } = await createKey(['--consumer', 'acme-billing', '--route', 'partner']);
    expect(code).toBe(0);
    const keys = parseYaml(entry!);
    expect(JSON.stringify(keys)).not.toContain(key!);
    const verifier = verifierFor({ scheme: 'bearer', keys }, {});
    expect(await outcome(verifier, { headers: auth(key!), rawBody: '' })).toMatchObject({ ok: true, consumer: 'acme-billing' });
    expect(await outcome(verifier, { headers: auth(key! + 'x'), rawBody: '' })).toMatchObject({ ok: false, status: 401 });
  });

  it('prints a different key each time', async () => {
    const a = await createKey(['--consumer', 'a']);
    const b = await createKey(['--consumer', 'a']);
    expect(a.key).not.toBe(b.key);
    expect(a.key!.length).toBeGreaterThanOrEqual(40);
  });

  it('refuses to create a key without a consumer name or with an expiry in the past', async () => {
    expect((await createKey([])).code).toBe(2);
    expect((await createKey(['--consumer', 'x', '--expires', '2001-01-01'])).code).toBe(2);
    expect((await createKey(['--consumer', 'bad name!'])).code).toBe(2);
  });

  const NOW = Date.parse('2026-06-01T00:00:00Z');
  const keys = [
    { consumer: 'old-partner', sha256: keyDigest('key-old').toString('hex'), expires: '2026-05-31' },
    { consumer: 'partner', sha256: keyDigest('key-2026').toString('hex'), expires: '2027-01-01T00:00:00Z' },
    { consumer: 'partner', sha256: keyDigest('key-2027').toString('hex') },
  ];
  const verifier = verifierFor({ scheme: 'bearer', keys }, {});

  it('accepts every active key of a consumer during rotation', async () => {
    expect(await outcome(verifier, { headers: auth('key-2026'), rawBody: '', now: NOW })).toMatchObject({ ok: true, consumer: 'partner' });
    expect(await outcome(verifier, { headers: auth('key-2027'), rawBody: '', now: NOW })).toMatchObject({ ok: true, consumer: 'partner' });
  });

  it('refuses an expired key with credential_expired, and the same key before its expiry is fine', async () => {
    expect(await outcome(verifier, { headers: auth('key-old'), rawBody: '', now: NOW })).toMatchObject({
      ok: false,
      status: 401,
      code: 'credential_expired',
    });
    expect(await outcome(verifier, { headers: auth('key-old'), rawBody: '', now: NOW - 86_400_001 })).toMatchObject({
      ok: true,
      consumer: 'old-partner',
    });
  });

  it('still accepts shared secrets from the environment next to consumer keys, without naming a consumer', async () => {
    const both = verifierFor({ scheme: 'bearer', secretEnv: 'SHARED', keys }, { SHARED: 'shared-secret-1' });
    const result = await outcome(both, { headers: auth('shared-secret-1'), rawBody: '', now: NOW });
    expect(result).toMatchObject({ ok: true });
    expect(result.ok && result.consumer).toBeUndefined();
  });

  it.each([
    { consumer: 'x', sha256: 'abc' },
    { consumer: 'x', sha256: keyDigest('k').toString('hex'), expires: 'next tuesday' },
    { consumer: 'x', sha256: keyDigest('k').toString('hex'), extra: 1 },
  ])('rejects the key entry %j at start-up', async (entry) => {
    expect(() => verifierFor({ scheme: 'bearer', keys: [entry] }, {})).toThrow();
  });
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadExtraSections } from './section.js';

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-sections-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const SECTION = (name: string) =>
  `export const section = { name: '${name}', run: async () => ({ title: '${name}', tables: [], notes: [], data: null }) };\n`;

describe('extra bench sections', () => {
  it('loads verify.ts and async.ts when they exist, in that order', async () => {
    const dir = dirWith({ 'async.ts': SECTION('async'), 'verify.ts': SECTION('verify'), 'other.ts': SECTION('other') });
    expect((await loadExtraSections(dir)).map((s) => s.name)).toEqual(['verify', 'async']);
  });

  it('skips sections left out by --only, and files that do not exist', async () => {
    const dir = dirWith({ 'async.ts': SECTION('async'), 'verify.ts': SECTION('verify') });
    expect((await loadExtraSections(dir, ['spine', 'async'])).map((s) => s.name)).toEqual(['async']);
    expect(await loadExtraSections(dirWith({}))).toEqual([]);
  });

  it('refuses a section file without a `section` export, naming what it must export', async () => {
    const dir = dirWith({ 'verify.ts': 'export const run = () => 1;\n' });
    await expect(loadExtraSections(dir)).rejects.toThrow('test/bench/verify.ts must export `section`');
  });
});

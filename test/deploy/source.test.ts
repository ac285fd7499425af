import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shippedFiles, sourceHash } from '../../shared/deploy/source.js';
import { REPO } from './example-plans.js';

const dir = mkdtempSync(join(tmpdir(), 'deploy-source-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(dir, 'tree-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

describe('what deploy uploads', () => {
  it("ships this repository's functions, core, package files and configs, and none of its tests, docs, dependencies or local env files", () => {
    const files = shippedFiles(REPO);
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'package-lock.json',
        'tsconfig.json',
        'functions/index.ts',
        'shared/relay.ts',
        'relay.config.yaml',
        'deploy/examples/relay.config.yaml',
      ]),
    );
    for (const file of files) expect(file).not.toMatch(/^(test|docs|dist|\.git|\.ci)\/|node_modules|^\.env$|\.log$/);
  });

  it('follows .gcloudignore: anchored names, names at any depth and globs', () => {
    const root = tree({
      '.gcloudignore': '# comment\n/test\nnode_modules\n*.log\n.env\n',
      'a.ts': '1',
      'test/x.test.ts': '2',
      'lib/test/kept.ts': '3',
      'lib/node_modules/dep/index.js': '4',
      'lib/debug.log': '5',
      '.env': 'SECRET=1',
    });
    expect(shippedFiles(root)).toEqual(['.gcloudignore', 'a.ts', 'lib/test/kept.ts']);
  });

  it('hashes to the same value for the same shipped bytes, and to another when a shipped file changes, not when an ignored one does', () => {
    const files = { '.gcloudignore': '/test\n', 'a.ts': 'one', 'test/t.ts': 'x' };
    const first = tree(files);
    const same = tree(files);
    const ignoredChanged = tree({ ...files, 'test/t.ts': 'y' });
    const shippedChanged = tree({ ...files, 'a.ts': 'two' });
    expect(sourceHash(first)).toMatch(/^[0-9a-f]{16}$/);
    expect(sourceHash(same)).toBe(sourceHash(first));
    expect(sourceHash(ignoredChanged)).toBe(sourceHash(first));
    expect(sourceHash(shippedChanged)).not.toBe(sourceHash(first));
  });

  it('refuses .gcloudignore rules it cannot follow exactly, rather than hashing the wrong files', () => {
    const root = tree({ '.gcloudignore': '!keep.ts\n', 'a.ts': '1' });
    expect(() => shippedFiles(root)).toThrow(/"!keep.ts" is not supported by run-relay deploy/);
  });
});

/**
 * The default log sink (shared/log.ts): lines logged in one turn of the event
 * loop reach stdout together, in order, with one write; a large backlog is
 * written at once; nothing waiting is lost when the process exits.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, flushStdoutLines } from '../../shared/log.js';

const root = resolve(import.meta.dirname, '../..');
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

afterEach(() => {
  flushStdoutLines();
  vi.restoreAllMocks();
});

describe('the stdout log sink', () => {
  it('writes the lines of one turn with one write, in the order they were logged, at the end of the turn', async () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const logger = createLogger();
    logger.info('first', { n: 1 });
    logger.child({ route: 'gh' }).warn('second');
    logger.error('third');
    expect(write).not.toHaveBeenCalled();
    await nextTurn();
    expect(write).toHaveBeenCalledTimes(1);
    const lines = String(write.mock.calls[0]![0]).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((line) => (JSON.parse(line) as { message: string }).message)).toEqual(['first', 'second', 'third']);
    expect(JSON.parse(lines[1]!)).toMatchObject({ severity: 'WARNING', route: 'gh' });
  });

  it('writes at once, without waiting for the turn to end, once 64 KiB are waiting', () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const logger = createLogger();
    const big = 'x'.repeat(1024);
    let i = 0;
    while (write.mock.calls.length === 0 && i < 200) logger.info('bulk', { i: i++, big });
    expect(write).toHaveBeenCalledTimes(1);
    expect(i).toBeGreaterThan(50);
    expect(i).toBeLessThan(70);
    expect(String(write.mock.calls[0]![0]).split('\n')).toHaveLength(i + 1);
  });

  it('writes what is waiting before the process exits', () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-log-'));
    const script = join(dir, 'exit.ts');
    writeFileSync(
      script,
      `import { createLogger } from ${JSON.stringify(join(root, 'shared/log.ts'))};\n` +
        `const logger = createLogger();\nlogger.info('before exit', { n: 1 });\nlogger.info('last words');\nprocess.exit(3);\n`,
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: root, encoding: 'utf8', timeout: 20_000 });
    expect(run.status).toBe(3);
    const messages = run.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { message: string }).message);
    expect(messages).toEqual(['before exit', 'last words']);
  });
});

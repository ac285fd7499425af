import { mkdirSync, mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  LOCAL_STATE_FILE,
  readLocalState,
  removeLocalState,
  withLocalState,
  writeLocalState,
  type LocalState,
} from '../../shared/cli/local-state.js';

const state = (pid = process.pid): LocalState => ({
  version: 1,
  pid,
  startedAt: '2026-12-03T09:00:00.000Z',
  configPath: '/x/relay.config.yaml',
  projectId: 'local-project',
  urls: { webhook: 'http://127.0.0.1:8080', metadata: 'http://127.0.0.1:8081', target: 'http://127.0.0.1:8082' },
  topics: { delivery: 'd', deadLetter: 'dl', deadLetterSubscription: 'dls' },
  env: { RELAY_URL: 'http://127.0.0.1:8080', GITHUB_WEBHOOK_SECRET: 'local', PUBSUB_EMULATOR_HOST: '127.0.0.1:1' },
});

describe('the local state file', () => {
  it('is found from a subdirectory of where npm start wrote it, and read back as written', () => {
    const root = mkdtempSync(join(tmpdir(), 'relay-state-'));
    mkdirSync(join(root, 'a', 'b'), { recursive: true });
    expect(writeLocalState(state(), root)).toBe(join(root, LOCAL_STATE_FILE));
    expect(readLocalState({ cwd: join(root, 'a', 'b') })).toEqual(state());
  });

  it('is ignored once the npm start that wrote it is gone, or when it is not a version-1 state', () => {
    const root = mkdtempSync(join(tmpdir(), 'relay-state-'));
    writeLocalState(state(4242), root);
    expect(readLocalState({ cwd: root, isAlive: () => false })).toBeUndefined();
    expect(readLocalState({ cwd: root, isAlive: (pid) => pid === 4242 })?.pid).toBe(4242);
    writeFileSync(join(root, LOCAL_STATE_FILE), '{"version":2,"pid":1,"env":{}}');
    expect(readLocalState({ cwd: root, isAlive: () => true })).toBeUndefined();
    writeFileSync(join(root, LOCAL_STATE_FILE), 'not json');
    expect(readLocalState({ cwd: root, isAlive: () => true })).toBeUndefined();
  });

  it('adds only what the environment leaves unset (an empty value counts as unset)', () => {
    const env = withLocalState({ RELAY_URL: 'https://relay.example.com', GITHUB_WEBHOOK_SECRET: '', HOME: '/h' }, state());
    expect(env).toEqual({
      RELAY_URL: 'https://relay.example.com',
      GITHUB_WEBHOOK_SECRET: 'local',
      PUBSUB_EMULATOR_HOST: '127.0.0.1:1',
      HOME: '/h',
    });
    expect(withLocalState({ A: '1' }, undefined)).toEqual({ A: '1' });
  });

  it('is removed on exit only by the process that wrote it', () => {
    const root = mkdtempSync(join(tmpdir(), 'relay-state-'));
    writeLocalState(state(4242), root);
    removeLocalState(root, 1);
    expect(existsSync(join(root, LOCAL_STATE_FILE))).toBe(true);
    removeLocalState(root, 4242);
    expect(existsSync(join(root, LOCAL_STATE_FILE))).toBe(false);
  });
});

/**
 * Settings are injected, not read: the environment is parsed once at the
 * composition root and handed down as a plain object. The scan below parses
 * every source file under shared/ with the TypeScript compiler, so a comment
 * or a string that mentions the environment does not count and a real read
 * (`process.env.X`, `process['env']`, `const { env } = process`) cannot hide.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { createRuntime } from '../../functions/runtime.js';
import { parseConfig } from '../../shared/config/load.js';
import { createLogger } from '../../shared/log.js';
import { pubSubOptionsOf } from '../../shared/pubsub/publisher.js';
import { createRelay } from '../../shared/relay.js';
import { GOOGLE_CERTS_URL, parseSettings } from '../../shared/settings.js';
import { createTokenCache } from '../../shared/identity/token-cache.js';
import { findCredentialsFile } from '../../shared/identity/resolve.js';

const root = resolve(import.meta.dirname, '../..');
/** Entry points that may hand their process's environment down. */
const ALLOWED = ['shared/cli/', 'shared/deploy/'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every place `text` reads the process environment, as `line: code`. */
function environmentReads(text: string, file = 'input.ts'): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const isProcess = (node: ts.Node): boolean =>
    (ts.isIdentifier(node) && node.text === 'process') ||
    (ts.isPropertyAccessExpression(node) &&
      node.name.text === 'process' &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'globalThis');
  const report = (node: ts.Node) => found.push(`${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}: ${node.getText()}`);
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) && node.name.text === 'env' && isProcess(node.expression)) report(node);
    else if (ts.isElementAccessExpression(node) && isProcess(node.expression)) report(node);
    // const { env } = process
    else if (ts.isVariableDeclaration(node) && node.initializer && isProcess(node.initializer) && ts.isObjectBindingPattern(node.name))
      report(node);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('settings are injected, not read', () => {
  it('finds environment reads in code and ignores them in comments and strings (the scan can fail)', () => {
    expect(environmentReads('const a = process.env.X;')).toHaveLength(1);
    expect(environmentReads("const a = process['env'];")).toHaveLength(1);
    expect(environmentReads('const { env } = process;')).toHaveLength(1);
    expect(environmentReads('const a = globalThis.process.env;')).toHaveLength(1);
    expect(environmentReads('function f(env = process.env) {}')).toHaveLength(1);
    expect(environmentReads('// default process.env\nconst s = "process.env";\nconst p = process.platform;')).toEqual([]);
  });

  it('no module under shared/ reads process.env, except the CLI and deploy entry points', () => {
    const files = sourceFiles(join(root, 'shared')).map((f) => relative(root, f).split('\\').join('/'));
    expect(files.length).toBeGreaterThan(40);
    const reads = files
      .filter((file) => !ALLOWED.some((prefix) => file.startsWith(prefix)))
      .flatMap((file) => environmentReads(readFileSync(join(root, file), 'utf8'), file).map((read) => `${file}:${read}`));
    expect(reads).toEqual([]);
  });
});

describe('parseSettings', () => {
  it('reads every setting from the object it is given, with documented defaults', () => {
    expect(parseSettings({})).toEqual({ logLevel: 'INFO', googleCertsUrl: GOOGLE_CERTS_URL, credentials: {}, logTraffic: false });
    expect(
      parseSettings({
        GOOGLE_CLOUD_PROJECT: 'p1',
        GCLOUD_PROJECT: 'p2',
        RELAY_LOG_LEVEL: 'Debug',
        RELAY_GOOGLE_CERTS_URL: 'http://127.0.0.1:1/certs',
        PUBSUB_EMULATOR_HOST: '127.0.0.1:8085',
        GOOGLE_APPLICATION_CREDENTIALS: '/k.json',
        HOME: '/home/u',
        RELAY_LOG_TRAFFIC: '1',
        UNRELATED: 'x',
      }),
    ).toEqual({
      projectId: 'p1',
      logLevel: 'DEBUG',
      googleCertsUrl: 'http://127.0.0.1:1/certs',
      pubsubEmulatorHost: '127.0.0.1:8085',
      credentials: { GOOGLE_APPLICATION_CREDENTIALS: '/k.json', HOME: '/home/u' },
      logTraffic: true,
    });
  });

  it('treats empty variables as unset and falls back to GCLOUD_PROJECT', () => {
    const settings = parseSettings({
      GOOGLE_CLOUD_PROJECT: '',
      GCLOUD_PROJECT: 'p2',
      RELAY_GOOGLE_CERTS_URL: '',
      RELAY_LOG_LEVEL: 'warning',
    });
    expect(settings).toEqual({ projectId: 'p2', logLevel: 'INFO', googleCertsUrl: GOOGLE_CERTS_URL, credentials: {}, logTraffic: false });
  });
});

describe('plain settings objects reach the core', () => {
  const loaded = () =>
    parseConfig({
      targets: { t: { url: 'http://127.0.0.1:9' } },
      routes: { open: { verify: { scheme: 'none' }, forward: [{ target: 't' }] } },
    });

  it('the runtime parses the environment it is given once, and its settings reach the logger', () => {
    const lines: string[] = [];
    const runtime = createRuntime({
      env: { RELAY_LOG_LEVEL: 'debug', GOOGLE_CLOUD_PROJECT: 'from-env' },
      loaded: loaded(),
      write: (l) => lines.push(l),
      publisher: { publish: async () => 'id', close: async () => {} },
    });
    expect(runtime.settings).toMatchObject({ projectId: 'from-env', logLevel: 'DEBUG' });
    runtime.logger.log('DEBUG', 'a debug line');
    expect(lines).toHaveLength(1);
    const quiet = createRuntime({ env: {}, loaded: loaded(), write: (l) => lines.push(l), settings: { logLevel: 'WARNING' } });
    quiet.logger.info('dropped');
    expect(lines).toHaveLength(1);
  });

  it('the relay names the trace with the project from its settings, not from the process', async () => {
    const lines: string[] = [];
    const tokens = createTokenCache({ source: { fetchIdToken: async () => 'x.y.z' } });
    const relay = createRelay(loaded(), {
      tokens,
      logger: createLogger({ write: (l) => lines.push(l) }),
      settings: { projectId: 'settings-project' },
    });
    await relay.handle({
      method: 'POST',
      path: '/nope',
      query: '',
      headers: { traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` },
      rawBody: Buffer.alloc(0),
    });
    expect(JSON.parse(lines.at(-1)!)['logging.googleapis.com/trace']).toBe(`projects/settings-project/traces/${'a'.repeat(32)}`);
  });

  it('Pub/Sub options come from the config first, then the settings', () => {
    expect(pubSubOptionsOf(undefined, parseSettings({ GOOGLE_CLOUD_PROJECT: 'p', PUBSUB_EMULATOR_HOST: 'h:1' }))).toEqual({
      projectId: 'p',
      emulatorHost: 'h:1',
    });
    expect(pubSubOptionsOf('cfg', parseSettings({ GOOGLE_CLOUD_PROJECT: 'p' }))).toEqual({ projectId: 'cfg' });
    expect(pubSubOptionsOf(undefined, parseSettings({}))).toEqual({});
  });

  it('ADC looks only at the credential settings it is handed', () => {
    const settings = parseSettings({ GOOGLE_APPLICATION_CREDENTIALS: '/from-settings.json' });
    expect(findCredentialsFile(undefined, { env: settings.credentials, exists: () => false })).toEqual({
      path: '/from-settings.json',
      via: 'GOOGLE_APPLICATION_CREDENTIALS',
    });
    expect(findCredentialsFile(undefined, { exists: () => false })).toBeUndefined();
  });
});

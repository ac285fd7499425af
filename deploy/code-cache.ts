/**
 * Makes V8's code cache for the functions' bundle (functions/bundle-loader.ts),
 * the last step of `npm run build`: starts the built `webhook` function once
 * as Cloud Functions starts it (the framework's CLI on `dist/functions/index.js`,
 * its platform variables set), relays one signed GitHub webhook through it,
 * then has it write the bytecode V8 compiled for the bundle, start-up and
 * first request included, to `dist/functions/relay.cjs.cache`.
 *
 * Nothing leaves the machine: one local server plays both the metadata
 * server (an unsigned ID token; the relay never checks its own tokens) and
 * the target. The training config is a fixed one (a GitHub route, one
 * target), not the deployment's: the cache holds the code that ran, and
 * code it lacks (other schemes, other paths) is compiled on first use as
 * without a cache. Cloud Functions runs `gcp-build` with the runtime's own
 * Node, so the cache fits the V8 that runs it; where it does not, V8 refuses
 * it and the bundle is compiled from source.
 *
 * V8 also refuses a cache made under other V8 flags, and the deployed
 * functions run with `NODE_OPTIONS=--max-old-space-size=...`
 * (shared/deploy/plan.ts) while the build does not. So the training start
 * runs with {@link CODE_CACHE_NODE_OPTIONS} as its `NODE_OPTIONS` when that
 * is set: `npm run deploy` sets it, as a build variable, to the functions'
 * own `NODE_OPTIONS`.
 */
import { spawn } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FRAMEWORK_MAIN = 'node_modules/@google-cloud/functions-framework/build/src/main.js';
const KEPT_ENV = ['PATH', 'HOME', 'TMPDIR', 'TMP', 'TEMP', 'SystemRoot', 'NODE_OPTIONS'];
/** The build variable naming the `NODE_OPTIONS` the built function will run with (see the top of this file). */
export const CODE_CACHE_NODE_OPTIONS = 'RELAY_CODE_CACHE_NODE_OPTIONS';

/** A JWT-shaped token that is good for an hour; unsigned, which only a verifying target would notice. */
function trainingToken(audience: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part({ aud: audience, iat: now, exp: now + 3600, iss: 'https://accounts.google.com' })}.c2ln`;
}

/** The metadata server's identity endpoint and the target, in one server on a free loopback port. */
async function startStub(): Promise<{ server: Server; url: string; host: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    req.resume();
    req.on('end', () => {
      if (url.pathname.startsWith('/computeMetadata/')) {
        res.setHeader('Metadata-Flavor', 'Google');
        if (url.pathname === '/computeMetadata/v1/instance/service-accounts/default/identity') {
          res.setHeader('content-type', 'text/plain');
          res.end(trainingToken(url.searchParams.get('audience') ?? ''));
        } else {
          res.statusCode = 404;
          res.end();
        }
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}` };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function post(port: number, path: string, headers: Record<string, string>, body: Buffer): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path, headers: { ...headers, 'content-length': String(body.length) }, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
        res.on('error', () => resolve(undefined));
      },
    );
    req.on('error', () => resolve(undefined)); // not listening yet
    req.end(body);
  });
}

export interface TrainOptions {
  /** The built entry point to start; default `<root>/dist/functions/index.js`. */
  entry?: string;
  /** Where the cache goes; default `<root>/dist/functions/relay.cjs.cache`. */
  cacheFile?: string;
  /** Give up after this long; default 30 s. */
  timeoutMs?: number;
}

/** Writes the code cache (see the top of this file); resolves with its path, or rejects saying why there is none. */
export async function trainCodeCache(root: string, options: TrainOptions = {}): Promise<string> {
  const entry = options.entry ?? join(root, 'dist/functions/index.js');
  const cacheFile = options.cacheFile ?? join(root, 'dist/functions/relay.cjs.cache');
  const timeoutMs = options.timeoutMs ?? 30_000;
  const workDir = mkdtempSync(join(tmpdir(), 'relay-code-cache-'));
  const stub = await startStub();
  const secret = randomBytes(24).toString('hex');
  const configFile = join(workDir, 'relay.config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      projectId: 'code-cache-training',
      targets: { svc: { url: stub.url } },
      routes: {
        github: { verify: { scheme: 'github', secretEnv: 'GITHUB_WEBHOOK_SECRET' }, forward: [{ target: 'svc', path: '/hooks/github' }] },
      },
    }),
  );
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, [FRAMEWORK_MAIN, '--target=webhook', `--source=${entry}`, `--port=${port}`], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: {
      // Only what finds node and its temporary files, and NODE_OPTIONS (the flags V8 checks a cache against): no setting
      // of the caller's (credentials, RELAY_*) reaches the training start.
      ...Object.fromEntries(KEPT_ENV.filter((name) => process.env[name] !== undefined).map((name) => [name, process.env[name]])),
      // The flags the function will run with, when the deploy says which: V8 takes a cache only under the same flags.
      ...(process.env[CODE_CACHE_NODE_OPTIONS] !== undefined ? { NODE_OPTIONS: process.env[CODE_CACHE_NODE_OPTIONS] } : {}),
      NODE_ENV: 'production',
      PORT: String(port),
      // What Cloud Functions gen2 sets for an instance (K_SERVICE: gcp-metadata knows it runs on Google Cloud).
      K_SERVICE: 'relay-webhook',
      K_REVISION: 'relay-webhook-00001-abc',
      K_CONFIGURATION: 'relay-webhook',
      FUNCTION_TARGET: 'webhook',
      FUNCTION_SIGNATURE_TYPE: 'http',
      RELAY_CONFIG: configFile,
      GITHUB_WEBHOOK_SECRET: secret,
      GCE_METADATA_HOST: stub.host,
      GOOGLE_CLOUD_PROJECT: 'code-cache-training',
      RELAY_CODE_CACHE_OUT: cacheFile,
    },
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) =>
      reject(new Error(`the function exited (${code ?? signal}) before the cache was written:\n${output}`)),
    ),
  );
  exited.catch(() => {});
  try {
    const started = Date.now();
    const body = Buffer.from(JSON.stringify({ action: 'opened', issue: { number: 1, title: 'code cache' }, sender: { login: 'relay' } }));
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/code-cache',
      'x-github-event': 'issues',
      'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
    };
    for (;;) {
      const status = await Promise.race([post(port, '/github', { ...headers, 'x-github-delivery': randomUUID() }, body), exited]);
      if (status === 200) break;
      if (status !== undefined) throw new Error(`the training webhook was answered ${status}, not 200:\n${output}`);
      if (Date.now() - started > timeoutMs) throw new Error(`the function did not answer within ${timeoutMs} ms:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const written = new Promise<void>((resolve) => child.once('message', () => resolve()));
    child.send('write-code-cache');
    await Promise.race([written, exited]);
    return cacheFile;
  } catch (error) {
    rmSync(cacheFile, { force: true });
    throw error;
  } finally {
    child.kill('SIGKILL');
    stub.server.close();
    stub.server.closeAllConnections();
    rmSync(workDir, { recursive: true, force: true });
  }
}

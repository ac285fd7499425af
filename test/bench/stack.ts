/**
 * Starts everything the spine benchmark compares, each server in its own
 * process on loopback: the metadata emulator (in this process, behind a
 * counting proxy so every metadata request the relay makes is seen), the
 * trivial and the token-verifying targets, (b) the framework pass-through,
 * (c) the built relay on the Functions Framework as in production, and (d)
 * the bare node:http proxy.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import ts from 'typescript';
import { startMetadataServer, type MetadataServer } from '../emulators/metadata-server.js';
import { startOnFreePort, type ServerProcess } from './processes.js';

export const FRAMEWORK_MAIN = 'node_modules/@google-cloud/functions-framework/build/src/main.js';
export const WEBHOOK_SECRET = 'bench-webhook-secret-0123456789';
const TSX = ['--import', 'tsx'];

/**
 * What Cloud Functions gen2 sets for every function instance (and what the
 * framework and the Google libraries read): the Cloud Run service variables
 * and the framework's target and signature type. Every process the bench
 * serves through the framework gets the same set, so the relay and the
 * functions it is compared with start as they would in production. Among
 * them, `K_SERVICE` makes gcp-metadata's residency check say "on Google
 * Cloud", so google-auth-library skips its detection ping to the metadata
 * server (`GET /computeMetadata/v1/instance`) as it does on Cloud Functions.
 */
/** The spine's relay config (one GitHub-verified route forwarding to `targetUrl`), written to `workDir`; returns its path. */
export function writeSpineConfig(workDir: string, targetUrl: string): string {
  const configPath = join(workDir, 'relay.config.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      projectId: 'local-project',
      targets: { svc: { url: targetUrl } },
      routes: {
        github: { verify: { scheme: 'github', secretEnv: 'GITHUB_WEBHOOK_SECRET' }, forward: [{ target: 'svc', path: '/hooks/github' }] },
      },
    }),
  );
  return configPath;
}

export function platformEnv(service: string, target: string, signatureType: 'http' | 'cloudevent' = 'http'): Record<string, string> {
  return {
    K_SERVICE: service,
    K_REVISION: `${service}-00001-abc`,
    K_CONFIGURATION: service,
    FUNCTION_TARGET: target,
    FUNCTION_SIGNATURE_TYPE: signatureType,
  };
}

export interface CountingProxy {
  /** host:port, for GCE_METADATA_HOST. */
  host: string;
  /** Requests seen, by path (query left out). */
  byPath: Map<string, number>;
  total(): number;
  close(): Promise<void>;
}

/** A loopback proxy in front of the metadata emulator that counts every request by path. */
export async function countingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const byPath = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    byPath.set(path, (byPath.get(path) ?? 0) + 1);
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.writeHead(502).end());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    byPath,
    total: () => [...byPath.values()].reduce((a, b) => a + b, 0),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Transpiles the pass-through function to plain ESM under dist/bench/ (it imports only the framework). */
export function compilePassthrough(root: string): string {
  const source = readFileSync(join(root, 'test/bench/servers/passthrough-function.ts'), 'utf8');
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  mkdirSync(join(root, 'dist/bench'), { recursive: true });
  const out = join(root, 'dist/bench/passthrough-function.js');
  writeFileSync(out, outputText);
  return out;
}

export interface BenchStack {
  metadata: MetadataServer;
  metadataProxy: CountingProxy;
  trivial: ServerProcess;
  verifying: ServerProcess;
  passthrough: ServerProcess;
  /** (b2): the same pass-through with a node:http client instead of fetch. */
  passthroughHttp: ServerProcess;
  relay: ServerProcess;
  bare: ServerProcess;
  /** A valid ID token for the verifying target, for (a2), (b) and (d). */
  token: string;
  /** Starts another relay process, e.g. with `--cpu-prof`. */
  startRelay(name: string, nodeFlags?: string[]): Promise<ServerProcess>;
  /** How the relay is started (node arguments with `{port}`, environment), for cold starts. */
  relayCommand: { args: string[]; env: Record<string, string> };
  close(): Promise<void>;
}

/**
 * Starts the whole comparison; `workDir` receives the relay config and each
 * process's log. `relayFlags` are extra `node` flags for every relay process
 * (e.g. `--max-old-space-size=96`).
 */
export async function startBenchStack(root: string, workDir: string, relayFlags: string[] = []): Promise<BenchStack> {
  const started: ServerProcess[] = [];
  const metadata = await startMetadataServer();
  const metadataProxy = await countingProxy(metadata.url);
  const start = async (name: string, args: string[], env: Record<string, string> = {}) => {
    const server = await startOnFreePort(name, args, { env, cwd: root, logFile: join(workDir, `${name.replace(/\W+/g, '-')}.log`) });
    started.push(server);
    return server;
  };
  try {
    const trivial = await start('trivial-target', [...TSX, 'test/bench/servers/trivial-target.ts']);
    const verifying = await start('verifying-target', [...TSX, 'test/bench/servers/verifying-target.ts'], { JWKS_URL: metadata.jwksUrl });
    const token = metadata.mint(verifying.url);
    const fixedHeader = { UPSTREAM: verifying.url, HEADER_NAME: 'authorization', HEADER_VALUE: `Bearer ${token}` };
    const passthroughFile = compilePassthrough(root);
    const passthrough = await start(
      'passthrough-function',
      [FRAMEWORK_MAIN, '--target=passthrough', `--source=${passthroughFile}`, '--port={port}'],
      { ...platformEnv('passthrough', 'passthrough'), ...fixedHeader },
    );
    const passthroughHttp = await start(
      'passthrough-http-function',
      [FRAMEWORK_MAIN, '--target=passthrough-http', `--source=${passthroughFile}`, '--port={port}'],
      { ...platformEnv('passthrough-http', 'passthrough-http'), ...fixedHeader },
    );
    const bare = await start('bare-proxy', [...TSX, 'test/bench/servers/bare-proxy.ts'], fixedHeader);

    const configPath = writeSpineConfig(workDir, verifying.url);
    const relayEnv = {
      ...platformEnv('relay-webhook', 'webhook'),
      RELAY_CONFIG: configPath,
      GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      GCE_METADATA_HOST: metadataProxy.host,
      GOOGLE_CLOUD_PROJECT: 'local-project',
    };
    const relayArgs = [FRAMEWORK_MAIN, '--target=webhook', '--source=dist/functions/index.js', '--port={port}'];
    const startRelay = (name: string, nodeFlags: string[] = []) => start(name, [...relayFlags, ...nodeFlags, ...relayArgs], relayEnv);
    const relay = await startRelay('relay');
    return {
      metadata,
      metadataProxy,
      trivial,
      verifying,
      passthrough,
      passthroughHttp,
      relay,
      bare,
      token,
      startRelay,
      relayCommand: { args: [...relayFlags, ...relayArgs], env: relayEnv },
      async close() {
        await Promise.all(started.map((s) => s.stop()));
        await metadataProxy.close();
        await metadata.close();
      },
    };
  } catch (error) {
    await Promise.all(started.map((s) => s.stop()));
    await metadataProxy.close();
    await metadata.close();
    throw error;
  }
}

/**
 * An in-process relay stack for integration tests: the metadata-server
 * emulator (reached by google-auth-library through GCE_METADATA_HOST), private
 * targets that verify tokens as Cloud Run does, and the relay's webhook
 * function served by the real Functions Framework server on loopback.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { installFrontDoor } from '../../functions/front-door.js';
import { createRuntime, type Runtime } from '../../functions/runtime.js';
import { webhookHandler } from '../../functions/webhook.js';
import { parseConfig } from '../../shared/config/load.js';
import { webhookDoorPolicy } from '../../shared/door/policy.js';
import type { Settings } from '../../shared/settings.js';
import { startMetadataServer, type MetadataServer } from '../emulators/metadata-server.js';
import { startPrivateTarget, type Behaviour, type PrivateTarget } from '../emulators/private-target.js';

export interface StackOptions {
  /** Target name → behaviour and config overrides (url is filled in). */
  targets: Record<string, { behaviour?: Behaviour; config?: Record<string, unknown> }>;
  routes: Record<string, unknown>;
  env?: Record<string, string>;
  /** Settings for the runtime, over those parsed from the process's environment. */
  settings?: Partial<Settings>;
  metadata?: MetadataServer;
}

export interface Stack {
  url: string;
  metadata: MetadataServer;
  targets: Record<string, PrivateTarget>;
  runtime: Runtime;
  logs: string[];
  close(): Promise<void>;
}

let counter = 0;

/** Starts the metadata emulator once per test file and points google-auth-library at it. */
export async function useMetadataServer(): Promise<MetadataServer> {
  const metadata = await startMetadataServer();
  process.env.GCE_METADATA_HOST = metadata.host;
  process.env.GOOGLE_CLOUD_PROJECT ??= 'local-project';
  return metadata;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const ownMetadata = !options.metadata;
  const metadata = options.metadata ?? (await useMetadataServer());
  const targets: Record<string, PrivateTarget> = {};
  const targetConfigs: Record<string, unknown> = {};
  for (const [name, t] of Object.entries(options.targets)) {
    targets[name] = await startPrivateTarget({ keys: () => [metadata.key.jwk], behaviour: t.behaviour });
    targetConfigs[name] = { url: targets[name].url, ...t.config };
  }
  const loaded = parseConfig({ targets: targetConfigs, routes: options.routes }, options.env ?? {});
  const logs: string[] = [];
  const runtime = createRuntime({ loaded, write: (line) => logs.push(line), settings: options.settings });
  const name = `webhook-test-${++counter}`;
  http(name, webhookHandler(runtime.relay));
  // The app built by getTestServer keeps the guard installed while it was made.
  const uninstall = installFrontDoor({ policy: webhookDoorPolicy(loaded.config) });
  const server: Server = getTestServer(name);
  uninstall();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    metadata,
    targets,
    runtime,
    logs,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(Object.values(targets).map((t) => t.close()));
      if (ownMetadata) await metadata.close();
    },
  };
}

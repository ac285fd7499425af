/**
 * An in-process stack for durable delivery, on loopback: the metadata
 * emulator, token-verifying targets, the relay's `webhook` and `pubsub`
 * functions on the real Functions Framework server, and the real Pub/Sub
 * emulator with a push subscription from the delivery topic to `pubsub`
 * and a pull subscription on the dead-letter topic.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PubSub } from '@google-cloud/pubsub';
import { cloudEvent, http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { installFrontDoor } from '../../functions/front-door.js';
import { pubsubHandler } from '../../functions/pubsub.js';
import { createRuntime, type Runtime } from '../../functions/runtime.js';
import { webhookHandler } from '../../functions/webhook.js';
import { parseConfig } from '../../shared/config/load.js';
import { pubsubDoorPolicy, webhookDoorPolicy, type DoorPolicy } from '../../shared/door/policy.js';
import { ensureSubscription, ensureTopic, pushEndpointFor } from '../../shared/pubsub/admin.js';
import { openPubSub, pubSubPublisher } from '../../shared/pubsub/publisher.js';
import { openPuller, type Puller } from '../../shared/pubsub/pull.js';
import type { MetadataServer } from '../emulators/metadata-server.js';
import { startPrivateTarget, type Behaviour, type PrivateTarget } from '../emulators/private-target.js';

export const PROJECT = 'relay-test';

export interface AsyncStackOptions {
  metadata: MetadataServer;
  /** Target name → behaviour, audience it accepts, and config overrides (url is filled in unless given). */
  targets: Record<string, { behaviour?: Behaviour; audience?: string; config?: Record<string, unknown> }>;
  routes?: Record<string, unknown>;
  topics?: Record<string, unknown>;
  schedules?: Record<string, unknown>;
  env?: Record<string, string>;
  /** Push subscription redelivery backoff, seconds (default 1..2); null for no retry policy (immediate redelivery). */
  backoffSeconds?: [number, number] | null;
  deliveryDeadlineMs?: number;
  /** Called with every log line as well (the inspector test reads them). */
  onLog?: (line: string) => void;
  /** Traffic fields on the log lines (RELAY_LOG_TRAFFIC); default off. */
  logTraffic?: boolean;
}

export interface AsyncStack {
  webhookUrl: string;
  pubsubUrl: string;
  targets: Record<string, PrivateTarget>;
  runtime: Runtime;
  pubsub: PubSub;
  topics: { delivery: string; deadLetter: string; deadLetterSubscription: string };
  /** Pulls from the dead-letter subscription. */
  deadLetters: Puller;
  logs: string[];
  /** Push-subscribes `topic` to the pubsub function (topic created if missing). */
  pushTopic(topic: string, subscription?: string): Promise<void>;
  close(): Promise<void>;
}

let counter = 0;

async function serve(name: string, policy: DoorPolicy): Promise<{ server: Server; url: string }> {
  const uninstall = installFrontDoor({ policy });
  const server: Server = getTestServer(name);
  uninstall();
  // The emulator's push client keeps idle connections longer than Node's 5 s default; a push sent on a
  // connection Node has just closed was seen to strand the message (never redelivered). Outlive the client.
  server.keepAliveTimeout = 10 * 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

export async function startAsyncStack(options: AsyncStackOptions): Promise<AsyncStack> {
  const n = `${process.pid}-${++counter}-${Date.now() % 100000}`;
  const topics = { delivery: `deliveries-${n}`, deadLetter: `dead-letters-${n}`, deadLetterSubscription: `dead-letters-inbox-${n}` };
  const targets: Record<string, PrivateTarget> = {};
  const targetConfigs: Record<string, unknown> = {};
  for (const [name, t] of Object.entries(options.targets)) {
    targets[name] = await startPrivateTarget({ keys: () => [options.metadata.key.jwk], behaviour: t.behaviour, audience: t.audience });
    targetConfigs[name] = { url: targets[name].url, ...(t.audience ? { audience: t.audience } : {}), ...t.config };
  }
  const loaded = parseConfig(
    {
      projectId: PROJECT,
      targets: targetConfigs,
      routes: options.routes ?? {},
      topics: options.topics ?? {},
      schedules: options.schedules ?? {},
      pubsub: {
        deliveryTopic: topics.delivery,
        deadLetterTopic: topics.deadLetter,
        deadLetterSubscription: topics.deadLetterSubscription,
        deliveryDeadlineMs: options.deliveryDeadlineMs ?? 20_000,
      },
    },
    options.env ?? {},
  );
  const logs: string[] = [];
  const publisher = pubSubPublisher({ projectId: PROJECT });
  const write = (line: string) => {
    logs.push(line);
    options.onLog?.(line);
  };
  const runtime = createRuntime({ loaded, write, publisher, settings: { logTraffic: options.logTraffic ?? false } });
  http(`webhook-${n}`, webhookHandler(runtime.relay));
  cloudEvent(`pubsub-${n}`, pubsubHandler(runtime.deliverer, runtime.logger));
  const webhook = await serve(`webhook-${n}`, webhookDoorPolicy(loaded.config));
  const fn = await serve(`pubsub-${n}`, pubsubDoorPolicy(loaded.config));
  const pubsub = await openPubSub({ projectId: PROJECT });
  const [minBackoff, maxBackoff] = options.backoffSeconds === null ? [undefined, undefined] : (options.backoffSeconds ?? [1, 2]);
  // Subscriptions made by pushTopic whose names do not carry this stack's suffix; deleted on close as well.
  const pushed = new Set<string>();
  const pushTopic = (topic: string, subscription = `${topic}-push`) => {
    pushed.add(subscription);
    return ensureSubscription(pubsub, {
      topic,
      name: subscription,
      pushEndpoint: pushEndpointFor(fn.url, PROJECT, topic),
      ackDeadlineSeconds: 30,
      minBackoffSeconds: minBackoff,
      maxBackoffSeconds: maxBackoff,
    });
  };
  await pushTopic(topics.delivery);
  await ensureTopic(pubsub, topics.deadLetter);
  await ensureSubscription(pubsub, { topic: topics.deadLetter, name: topics.deadLetterSubscription });
  const deadLetters = await openPuller(pubsub, topics.deadLetterSubscription);
  return {
    webhookUrl: webhook.url,
    pubsubUrl: fn.url,
    targets,
    runtime,
    pubsub,
    topics,
    deadLetters,
    logs,
    pushTopic,
    async close() {
      // Delete the subscriptions first so the emulator stops pushing to servers about to close.
      const [subs] = await pubsub.getSubscriptions().catch(() => [[]] as never);
      await Promise.allSettled(subs.filter((s) => s.name.includes(n) || pushed.has(s.name.split('/').pop()!)).map((s) => s.delete()));
      for (const { server } of [webhook, fn]) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      await Promise.all(Object.values(targets).map((t) => t.close()));
      await deadLetters.close();
      await publisher.close();
      await pubsub.close();
    },
  };
}

/** Polls `check` every 100 ms until it returns true or `timeoutMs` passes; then throws with `what`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for: ${what}`);
}

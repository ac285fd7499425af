/**
 * Preload (`node --import tsx --import ./test/bench/servers/long-keep-alive.ts`)
 * for the bench's `pubsub` function process: every node:http server it makes
 * keeps idle connections for 10 minutes. The Pub/Sub emulator's push client
 * keeps idle connections longer than Node's 5 s default, and a push sent on a
 * connection Node has just closed was seen to strand the message (never
 * redelivered; see test/support/async-stack.ts). Real Pub/Sub is not affected;
 * the relay's code is not changed by this, only the server's idle timeout.
 */
import { Server } from 'node:http';

const listen = Server.prototype.listen;
Server.prototype.listen = function (this: Server, ...args: unknown[]) {
  this.keepAliveTimeout = 10 * 60_000;
  return listen.apply(this, args as Parameters<typeof listen>);
} as typeof listen;

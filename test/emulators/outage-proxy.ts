/**
 * A TCP proxy on a fixed loopback port that can go down (connection
 * refused, open connections reset) and come back up on the same port:
 * a target that is down for a stretch, for the chaos test.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface OutageProxy {
  url: string;
  setUpstream(port: number): void;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startOutageProxy(): Promise<OutageProxy> {
  let upstream = 0;
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const remote = createConnection(upstream, '127.0.0.1');
        for (const sock of [client, remote]) {
          sockets.add(sock);
          sock.on('close', () => sockets.delete(sock));
          sock.on('error', () => {
            client.destroy();
            remote.destroy();
          });
        }
        client.pipe(remote).pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as { port: number }).port;
        server = s;
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const sock of sockets) sock.resetAndDestroy();
      if (!server) return resolve();
      server.close(() => resolve());
      server = undefined;
    });
  await start();
  return {
    url: `http://127.0.0.1:${port}`,
    setUpstream: (p) => (upstream = p),
    down: stop,
    up: start,
    close: stop,
  };
}

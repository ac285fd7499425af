/**
 * The local inspector: a page on loopback showing, live, what the relay's log
 * lines say it did (requests, verdicts, delivery attempts), the dead-letter
 * inbox with a replay button, and "send again" for a past request.
 *
 * It holds no record of its own: the picture is folded from the functions'
 * stdout (`watch`) or from lines handed to `ingest`, and the inbox is read
 * from the dead-letter subscription when asked. Served with node:http on
 * 127.0.0.1 only; requests naming another Host are refused (DNS rebinding),
 * and actions need the page's own `x-inspector` header (no cross-site posts).
 *
 * @example
 * const inspector = await startInspector({ port: 8084, send: (r) => sendAgain(r, { relayUrl, loaded }) });
 * inspector.watch(child.stdout!); // also echoes every line to this process's stdout
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { DeadLetterInbox, DeadLetterView } from './dead-letters.js';
import { createTrafficModel, type StoredRequest, type TrafficModel } from './model.js';
import { SendAgainError } from './send-again.js';

export interface InspectorOptions {
  /** Loopback port; default 0 (any free one). */
  port?: number;
  /** The dead-letter inbox; without one the page says dead letters are unavailable. */
  deadLetters?: DeadLetterInbox;
  /** Resends a past request; without one the page offers no "send again". */
  send?: (request: StoredRequest) => Promise<{ status: number; body: string }>;
  model?: TrafficModel;
}

export interface Inspector {
  url: string;
  /** Folds one log line into the picture. */
  ingest(line: string): void;
  /** Reads a child's stdout line by line into the picture, echoing it all to `echo` (default process.stdout). */
  watch(stream: Readable, echo?: Writable): void;
  /** Sets the dead-letter inbox once there is one (the Pub/Sub emulator starts after the page). */
  useDeadLetters(inbox: DeadLetterInbox): void;
  /** Reads the dead-letter inbox again and tells open pages. */
  refreshDeadLetters(): Promise<void>;
  close(): Promise<void>;
}

const PAGE = readFileSync(new URL('./page.html', import.meta.url), 'utf8');

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** Starts the inspector on 127.0.0.1; see the module comment. */
export async function startInspector(options: InspectorOptions = {}): Promise<Inspector> {
  const model = options.model ?? createTrafficModel();
  let inbox = options.deadLetters;
  const clients = new Set<ServerResponse>();
  let deadLetters: { items: DeadLetterView[]; error?: string; available: boolean } = { items: [], available: inbox !== undefined };
  let pending: NodeJS.Timeout | undefined;
  let reading: Promise<void> | undefined;

  const state = () => ({ ...model.snapshot(), deadLetters, canSendAgain: options.send !== undefined });
  const broadcast = () => {
    if (pending) return;
    // Coalesce bursts of lines into one update per 100 ms.
    pending = setTimeout(() => {
      pending = undefined;
      const data = `data: ${JSON.stringify(state())}\n\n`;
      for (const c of clients) c.write(data);
    }, 100);
  };

  const refreshDeadLetters = (): Promise<void> => {
    if (!inbox) return Promise.resolve();
    // One read at a time: two concurrent pulls would each hide the other's messages.
    reading ??= inbox
      .list()
      .then(
        (items) => void (deadLetters = { items, available: true }),
        (error: unknown) => void (deadLetters = { ...deadLetters, error: error instanceof Error ? error.message : String(error) }),
      )
      .finally(() => {
        reading = undefined;
        broadcast();
      });
    return reading;
  };

  const ingest = (line: string) => {
    if (model.ingest(line)) broadcast();
    // The parked copy is published just before this line: read the inbox once it is there.
    if (line.includes('"Message dead-lettered"')) setTimeout(() => void refreshDeadLetters(), 300).unref();
  };

  let host = '';
  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, { error: error instanceof Error ? error.message : String(error) });
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers.host !== host && req.headers.host !== host.replace('127.0.0.1', 'localhost'))
      return send(res, 421, { error: `Expected Host ${host}` });
    const url = new URL(req.url ?? '/', `http://${host}`);
    if (req.method === 'GET' && url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      return void res.end(PAGE);
    }
    if (req.method === 'GET' && url.pathname === '/api/state') return send(res, 200, state());
    if (req.method === 'GET' && url.pathname === '/api/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(`data: ${JSON.stringify(state())}\n\n`);
      clients.add(res);
      req.on('close', () => clients.delete(res));
      return;
    }
    if (req.method !== 'POST') return send(res, 404, { error: `No ${req.method} ${url.pathname} here` });
    if (req.headers['x-inspector'] !== '1') return send(res, 403, { error: 'Actions come from the inspector page only (x-inspector: 1)' });
    req.resume();
    const resend = /^\/api\/requests\/(\d+)\/send-again$/.exec(url.pathname);
    if (resend) {
      if (!options.send) return send(res, 501, { error: 'This inspector was started without "send again"' });
      const stored = model.stored(Number(resend[1]));
      if (!stored)
        return send(res, 404, {
          error: `Request ${resend[1]} is not kept whole (unknown, too large, or logged without RELAY_LOG_TRAFFIC=1)`,
        });
      try {
        const answer = await options.send(stored);
        return send(res, 200, { status: answer.status, body: answer.body.slice(0, 2000) });
      } catch (error) {
        if (error instanceof SendAgainError) return send(res, error.status, { error: error.message });
        return send(res, 502, { error: `The relay did not answer: ${error instanceof Error ? error.message : String(error)}` });
      }
    }
    const replay = /^\/api\/dead-letters\/([^/]+)\/replay$/.exec(url.pathname);
    if (replay) {
      if (!inbox) return send(res, 501, { error: 'No dead-letter inbox: the Pub/Sub emulator is not running' });
      await reading;
      const result = await inbox.replay(decodeURIComponent(replay[1]!));
      await refreshDeadLetters();
      return send(res, result.replayed ? 200 : 409, result);
    }
    if (url.pathname === '/api/dead-letters/refresh') {
      await refreshDeadLetters();
      return send(res, 200, deadLetters);
    }
    return send(res, 404, { error: `No POST ${url.pathname} here` });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  void refreshDeadLetters();

  return {
    url: `http://${host}/`,
    ingest,
    watch(stream, echo = process.stdout) {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        echo.write(chunk);
        const lines = (rest + chunk).split('\n');
        rest = lines.pop()!;
        for (const line of lines) ingest(line.trim());
      });
    },
    useDeadLetters(next) {
      inbox = next;
      deadLetters = { items: [], available: true };
      void refreshDeadLetters();
    },
    refreshDeadLetters,
    async close() {
      clearTimeout(pending);
      for (const c of clients) c.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

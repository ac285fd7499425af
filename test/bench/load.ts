/**
 * The load generator: a fixed number of concurrent keep-alive clients
 * (node:http Agent, one socket per client) sending the same request in a
 * closed loop for a fixed time. Only requests that complete inside the
 * measured window (after the warm-up) are counted; the ones still in flight at
 * its end are awaited but not counted.
 */
import { Agent, request } from 'node:http';

export interface LoadOptions {
  url: string;
  method?: string;
  /**
   * Headers of each request; a function is called once per request, so each
   * can carry a fresh delivery id (see spine-requests.ts).
   */
  headers?: Record<string, string> | (() => Record<string, string>);
  body?: Buffer;
  concurrency: number;
  /** Measured time, after the warm-up. */
  durationMs: number;
  /** Time before measuring starts; default 300 ms. */
  warmupMs?: number;
  /** Statuses counted as success; default 2xx. */
  ok?: (status: number) => boolean;
  /** Called when the measured window starts and ends (e.g. to read CPU time). */
  onWindow?: (edge: 'start' | 'end') => void;
  /**
   * Called with every answer (warm-up and tail included), its body and the
   * headers sent, so a caller can check what each one said (the async bench
   * collects the idempotency key of every 202). Without it bodies are discarded.
   */
  onAnswer?: (status: number, body: Buffer, sent: Record<string, string>) => void;
}

export interface LoadResult {
  /** Successful requests completed in the measured window. */
  requests: number;
  /** Failed requests (bad status or network error) in the whole run, warm-up included. */
  errors: number;
  /** Every request completed successfully, warm-up included. */
  completed: number;
  firstError?: string;
  windowMs: number;
  rps: number;
  /** Latency (ms) of each counted request. */
  latencies: Float64Array;
}

const MAX_ERRORS = 1_000;

function once(
  agent: Agent,
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  onAnswer?: LoadOptions['onAnswer'],
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers }, (res) => {
      const chunks: Buffer[] | undefined = onAnswer ? [] : undefined;
      res.on('data', chunks ? (c: Buffer) => chunks.push(c) : () => {});
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        try {
          onAnswer?.(status, Buffer.concat(chunks!), headers);
        } catch (error) {
          return reject(error as Error); // counted as a failed request
        }
        resolve(status);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs one closed-loop load round; see {@link LoadOptions}. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const url = new URL(options.url);
  const method = options.method ?? 'POST';
  const body = options.body;
  const length: Record<string, string> = body ? { 'content-length': String(body.length) } : {};
  const fixed = typeof options.headers === 'function' ? undefined : { ...options.headers, ...length };
  const factory = typeof options.headers === 'function' ? options.headers : undefined;
  const headersOf = (): Record<string, string> => fixed ?? { ...factory!(), ...length };
  const ok = options.ok ?? ((status: number) => status >= 200 && status < 300);
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const warmupMs = options.warmupMs ?? 300;
  const started = performance.now();
  const windowStart = started + warmupMs;
  const windowEnd = windowStart + options.durationMs;
  let latencies = new Float64Array(4096);
  let requests = 0;
  let errors = 0;
  let completed = 0;
  let firstError: string | undefined;
  const fired = { start: false, end: false };
  const edge = (which: 'start' | 'end') => {
    if (fired[which]) return;
    fired[which] = true;
    options.onWindow?.(which);
  };
  const edges = options.onWindow
    ? [setTimeout(() => edge('start'), warmupMs), setTimeout(() => edge('end'), warmupMs + options.durationMs)]
    : [];

  const client = async () => {
    while (performance.now() < windowEnd && errors < MAX_ERRORS) {
      const t0 = performance.now();
      try {
        const status = await once(agent, url, method, headersOf(), body, options.onAnswer);
        const t1 = performance.now();
        if (!ok(status)) {
          errors++;
          firstError ??= `HTTP ${status}`;
          continue;
        }
        completed++;
        if (t1 >= windowStart && t1 <= windowEnd) {
          if (requests === latencies.length) {
            const bigger = new Float64Array(latencies.length * 2);
            bigger.set(latencies);
            latencies = bigger;
          }
          latencies[requests++] = t1 - t0;
        }
      } catch (error) {
        errors++;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, client));
  // The clients stop at the window's end, sometimes before its timer ran on a busy loop (or early, after too many
  // errors): still close the window, so CPU per request is read every round.
  for (const timer of edges) clearTimeout(timer);
  if (options.onWindow) {
    edge('start');
    edge('end');
  }
  agent.destroy();
  return {
    requests,
    errors,
    completed,
    firstError,
    windowMs: options.durationMs,
    rps: (requests / options.durationMs) * 1000,
    latencies: latencies.slice(0, requests),
  };
}

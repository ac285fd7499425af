/**
 * Cold start as a sender sees it: from spawning the built `webhook` function
 * (the framework's CLI on dist/, as in production) to its first RELAYED
 * answer, a signed webhook forwarded to the token-verifying target with a
 * freshly minted ID token, against spawning a bare hello function on the
 * same framework to its first answer. Starts alternate (webhook, hello,
 * hello, webhook, ...) so drift hits both; the figure is the median.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { countsBetween, readCounts } from './counts.js';
import type { SampleDelivery } from './delivery.js';
import { freePort } from './processes.js';
import { platformEnv } from './stack.js';
import { median } from './stats.js';

export interface ColdStartFigures {
  runs: number;
  /** Median ms, spawn to the first relayed 200. */
  webhookMs: number;
  /** Median ms, spawn to the hello function's first 200. */
  helloMs: number;
  ratio: number;
  webhookRuns: number[];
  helloRuns: number[];
}

export interface ColdStartOptions {
  root: string;
  workDir: string;
  runs: number;
  /** `node` arguments of the relay, `{port}` replaced, and its environment (with {@link platformEnv}'s, as the hello function's). */
  relay: { args: string[]; env: Record<string, string> };
  frameworkMain: string;
  delivery: SampleDelivery;
  /** The verifying target the relay forwards to: its counts prove each first answer was relayed. */
  targetUrl: string;
}

function call(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<{ status: number; text: string } | undefined> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: body ? { ...headers, 'content-length': String(body.length) } : headers,
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', () => resolve(undefined));
      },
    );
    req.on('error', () => resolve(undefined)); // not listening yet
    req.end(body);
  });
}

/** Spawns `node args` and polls with `probe` until it answers; resolves ms from spawn to that answer. */
async function startOnce(
  args: string[],
  env: Record<string, string>,
  logFile: string,
  probe: (port: number) => Promise<{ status: number; text: string } | undefined>,
  what: string,
): Promise<number> {
  const port = await freePort();
  const out = openSync(logFile, 'a');
  const started = performance.now();
  const child = spawn(
    process.execPath,
    args.map((a) => a.replace('{port}', String(port))),
    { env: { ...process.env, NODE_ENV: 'production', PORT: String(port), ...env }, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}) before answering; see ${logFile}`);
      const answer = await probe(port);
      if (answer) {
        if (answer.status !== 200)
          throw new Error(`${what}: first answer was ${answer.status}, not a relayed 200: ${answer.text.slice(0, 200)}`);
        return performance.now() - started;
      }
      if (performance.now() - started > 30_000) throw new Error(`${what} did not answer within 30 s; see ${logFile}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
  }
}

/** Measures {@link ColdStartFigures}; throws if a first answer did not reach the target. */
export async function measureColdStart(o: ColdStartOptions): Promise<ColdStartFigures> {
  const dir = join(o.root, 'dist/bench');
  mkdirSync(dir, { recursive: true });
  const hello = join(dir, 'hello.js');
  writeFileSync(
    hello,
    "import { http } from '@google-cloud/functions-framework';\nhttp('hello', (_req, res) => { res.send('hello'); });\n",
  );
  const helloArgs = [o.frameworkMain, '--target=hello', `--source=${hello}`, '--port={port}'];
  const relayProbe = (port: number) => call(port, 'POST', '/github', o.delivery.headers(), o.delivery.body);
  const helloProbe = (port: number) => call(port, 'GET', '/', {});
  const webhookRuns: number[] = [];
  const helloRuns: number[] = [];
  for (let i = 0; i < o.runs; i++) {
    const webhook = async () => {
      const before = await readCounts(o.targetUrl);
      webhookRuns.push(await startOnce(o.relay.args, o.relay.env, join(o.workDir, 'cold-webhook.log'), relayProbe, 'webhook (cold start)'));
      const reached = countsBetween(before, await readCounts(o.targetUrl));
      if (reached.accepted !== 1 || reached.refused !== 0)
        throw new Error(
          `cold start: the relay answered 200 but the target accepted ${reached.accepted} and refused ${reached.refused} requests`,
        );
    };
    const helloRun = async () => {
      helloRuns.push(
        await startOnce(helloArgs, platformEnv('hello', 'hello'), join(o.workDir, 'cold-hello.log'), helloProbe, 'hello (cold start)'),
      );
    };
    if (i % 2 === 0) await webhook().then(helloRun);
    else await helloRun().then(webhook);
  }
  const webhookMs = median(webhookRuns);
  const helloMs = median(helloRuns);
  return { runs: o.runs, webhookMs, helloMs, ratio: webhookMs / helloMs, webhookRuns, helloRuns };
}

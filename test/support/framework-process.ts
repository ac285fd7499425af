/**
 * Starts the Functions Framework's own CLI in a child process, the way Cloud
 * Functions does, and waits until it answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './free-port.js';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const FRAMEWORK_MAIN = join(dirname(createRequire(import.meta.url).resolve('@google-cloud/functions-framework')), 'main.js');

export { freePort } from './free-port.js';

export interface FrameworkProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code once the process ends. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export async function startFramework(options: {
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  nodeArgs?: string[];
  waitFor?: string;
}): Promise<FrameworkProcess> {
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), FRAMEWORK_MAIN, ...options.args, `--port=${port}`], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  let ended = false;
  void exited.then(() => (ended = true));
  const started = Date.now();
  while (!ended && Date.now() - started < 20_000) {
    try {
      await fetch(`${url}${options.waitFor ?? '/healthz'}`);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    child,
    output: () => output,
    exited,
    async stop() {
      if (!ended) child.kill('SIGTERM');
      await exited;
    },
  };
}

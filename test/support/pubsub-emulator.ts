/**
 * The real Pub/Sub emulator for tests. Uses PUBSUB_EMULATOR_HOST when it is
 * already set (e.g. by CI), else starts `gcloud beta emulators pubsub start`
 * on a free loopback port, waits until it answers, and stops it (the whole
 * process group: gcloud starts Java underneath) when done.
 *
 * When the emulator cannot be had, `startPubSubEmulator` resolves undefined
 * and says loudly which suite could not run; with CI=true it throws instead,
 * so the suite fails.
 */
import { freePort } from './free-port.js';
import { spawn, type ChildProcess } from 'node:child_process';

export interface PubSubEmulator {
  /** host:port, the value for PUBSUB_EMULATOR_HOST. */
  host: string;
  close(): Promise<void>;
}

/** True when an emulator answers `GET /` on `host`. */
export async function answers(host: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

/** Stops a detached emulator's whole process group (gcloud starts Java underneath). */
export function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.pid === undefined) return resolve();
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

async function launch(timeoutMs: number): Promise<PubSubEmulator> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const child = spawn('gcloud', ['beta', 'emulators', 'pubsub', 'start', '--project=relay-test', `--host-port=${host}`, '--quiet'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-4000)));
  child.stderr?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-4000)));
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (spawnError) throw new Error(`cannot run gcloud: ${spawnError.message}`);
    if (child.exitCode !== null)
      throw new Error(`gcloud exited with ${child.exitCode}: ${output.trim().split('\n').slice(-3).join(' | ')}`);
    if (await answers(host)) return { host, close: () => stop(child) };
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop(child);
  throw new Error(`the emulator did not answer on ${host} within ${timeoutMs} ms: ${output.trim().split('\n').slice(-3).join(' | ')}`);
}

/**
 * Starts (or reuses) the emulator and sets PUBSUB_EMULATOR_HOST for this process.
 * `suite` names the suite for the message printed when it cannot run.
 */
export async function startPubSubEmulator(
  suite: string,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 45_000,
): Promise<PubSubEmulator | undefined> {
  const existing = env.PUBSUB_EMULATOR_HOST;
  try {
    if (existing) {
      if (!(await answers(existing))) throw new Error(`PUBSUB_EMULATOR_HOST=${existing} does not answer`);
      return { host: existing, close: async () => {} };
    }
    const emulator = await launch(timeoutMs);
    env.PUBSUB_EMULATOR_HOST = emulator.host;
    return {
      host: emulator.host,
      close: async () => {
        await emulator.close();
        delete env.PUBSUB_EMULATOR_HOST;
      },
    };
  } catch (error) {
    const message = `Pub/Sub emulator unavailable (${(error as Error).message}): the suite "${suite}" could NOT run.`;
    if (env.CI === 'true') throw new Error(`${message} CI=true, so this is a failure.`, { cause: error });
    process.stderr.write(
      `\n${'!'.repeat(78)}\n!! ${message}\n!! Install the emulator (gcloud components install pubsub-emulator, Java 11+) or set PUBSUB_EMULATOR_HOST.\n${'!'.repeat(78)}\n\n`,
    );
    return undefined;
  }
}

/**
 * The real Firestore emulator for tests, like pubsub-emulator.ts: uses
 * FIRESTORE_EMULATOR_HOST when already set (CI starts it once), else starts
 * `gcloud emulators firestore start` on a free loopback port (10-20 s) and
 * stops its process group when done. When it cannot be had, resolves
 * undefined and says loudly which suite could not run; with CI=true throws.
 */
import { spawn } from 'node:child_process';
import { freePort } from './free-port.js';
import { answers, stop } from './pubsub-emulator.js';

export interface FirestoreEmulator {
  /** host:port, the value for FIRESTORE_EMULATOR_HOST. */
  host: string;
  close(): Promise<void>;
}

async function launch(timeoutMs: number): Promise<FirestoreEmulator> {
  const host = `127.0.0.1:${await freePort()}`;
  const child = spawn('gcloud', ['emulators', 'firestore', 'start', `--host-port=${host}`, '--quiet'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-4000)));
  child.stderr?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-4000)));
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  const until = Date.now() + timeoutMs;
  const tail = () => output.trim().split('\n').slice(-3).join(' | ');
  while (Date.now() < until) {
    if (spawnError) throw new Error(`cannot run gcloud: ${spawnError.message}`);
    if (child.exitCode !== null) throw new Error(`gcloud exited with ${child.exitCode}: ${tail()}`);
    if (await answers(host)) return { host, close: () => stop(child) };
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop(child);
  throw new Error(`the emulator did not answer on ${host} within ${timeoutMs} ms: ${tail()}`);
}

/** Starts (or reuses) the emulator and sets FIRESTORE_EMULATOR_HOST for this process. */
export async function startFirestoreEmulator(
  suite: string,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 60_000,
): Promise<FirestoreEmulator | undefined> {
  const existing = env.FIRESTORE_EMULATOR_HOST;
  try {
    if (existing) {
      if (!(await answers(existing))) throw new Error(`FIRESTORE_EMULATOR_HOST=${existing} does not answer`);
      return { host: existing, close: async () => {} };
    }
    const emulator = await launch(timeoutMs);
    env.FIRESTORE_EMULATOR_HOST = emulator.host;
    return {
      host: emulator.host,
      close: async () => {
        await emulator.close();
        delete env.FIRESTORE_EMULATOR_HOST;
      },
    };
  } catch (error) {
    const message = `Firestore emulator unavailable (${(error as Error).message}): the suite "${suite}" could NOT run.`;
    if (env.CI === 'true') throw new Error(`${message} CI=true, so this is a failure.`, { cause: error });
    process.stderr.write(
      `\n${'!'.repeat(78)}\n!! ${message}\n!! Install it (gcloud components install cloud-firestore-emulator, Java 11+) or set FIRESTORE_EMULATOR_HOST.\n${'!'.repeat(78)}\n\n`,
    );
    return undefined;
  }
}

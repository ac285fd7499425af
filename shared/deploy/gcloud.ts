/**
 * Running gcloud: the one side effect of `run-relay deploy`, passed in as a
 * function so tests hand in a fake cloud and the CLI the real binary.
 */
import { execFile } from 'node:child_process';
import type { Command } from './command.js';

export interface GcloudResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Gcloud = (command: Command) => Promise<GcloudResult>;

/** Runs the real `gcloud` (or `bin`), never through a shell; output is capped at 64 MiB. */
export function gcloudBinary(options: { bin?: string; env?: NodeJS.ProcessEnv } = {}): Gcloud {
  const bin = options.bin ?? 'gcloud';
  return (command) =>
    new Promise((resolve) => {
      execFile(bin, [...command], { env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
        const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 127) : 0;
        const missingBinary = (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
        resolve({
          code,
          stdout: String(stdout),
          stderr: missingBinary ? `${bin} is not installed or not on PATH (install the Google Cloud CLI)` : String(stderr),
        });
      });
    });
}

/** True when gcloud said the thing it was asked about does not exist (`run services describe` says "Cannot find service [x]"). */
export function isNotFound(result: GcloudResult): boolean {
  return result.code !== 0 && /NOT_FOUND|not found|does not exist|status=\[404\]|Cannot find service/i.test(result.stderr);
}

/** gcloud's message without its "ERROR: (gcloud.x)" prefix noise, at most `max` lines. */
export function gcloudMessage(result: GcloudResult, max = 12): string {
  const lines = result.stderr
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '');
  return (
    (lines.length > max ? [...lines.slice(0, max), `… (${lines.length - max} more lines)`] : lines).join('\n') ||
    `(exit code ${result.code}, no message)`
  );
}

/**
 * Asks gcloud once for its active account. Undefined when there is one (or
 * gcloud is given an access token through CLOUDSDK_AUTH_ACCESS_TOKEN[_FILE],
 * which needs none); else the one line to print: what to run.
 */
export async function missingLogin(gcloud: Gcloud, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (env.CLOUDSDK_AUTH_ACCESS_TOKEN || env.CLOUDSDK_AUTH_ACCESS_TOKEN_FILE) return undefined;
  const result = await gcloud(['auth', 'list', '--filter=status:ACTIVE', '--format=value(account)']);
  if (result.code === 127) return `${result.stderr.trim()}; then run \`gcloud auth login\` and try again.`;
  if (result.code !== 0)
    return `gcloud could not list its accounts (${gcloudMessage(result, 1)}); run \`gcloud auth login\` and try again.`;
  if (result.stdout.trim() !== '') return undefined;
  return 'gcloud has no active account: run `gcloud auth login` (or `gcloud auth activate-service-account --key-file=KEY.json`), then try again.';
}

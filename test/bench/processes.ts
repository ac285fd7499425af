/**
 * Servers under test run as child processes on loopback, so that each one's
 * memory and CPU are its own. This module starts them, waits until they
 * answer HTTP, reads their peak RSS and CPU time from /proc, and stops them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { request } from 'node:http';
import { freePort } from '../support/free-port.js';

export interface ServerProcess {
  name: string;
  pid: number;
  port: number;
  url: string;
  logFile: string;
  /** Time from spawn to the first HTTP answer, in ms. */
  startupMs: number;
  /** Peak resident set size (VmHWM) in MiB, or undefined off Linux. */
  peakRssMiB(): number | undefined;
  /** User + system CPU time used so far, in ms, or undefined off Linux. */
  cpuMs(): number | undefined;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s); resolves with its exit code. */
  stop(): Promise<number | null>;
}

export interface StartOptions {
  name: string;
  /** Arguments to `node` (flags, script, script arguments). */
  args: string[];
  port: number;
  env?: Record<string, string | undefined>;
  /** Where stdout and stderr go. */
  logFile: string;
  cwd?: string;
  /** How long to wait for the first HTTP answer; default 20 s. */
  readyTimeoutMs?: number;
}

// Children still running when the bench exits (an uncaught error, Ctrl-C) are killed with it.
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export { freePort };

/**
 * Whether process `pid` holds a listening TCP socket on `port` (any local
 * address, IPv4 or IPv6; Linux: /proc/net/tcp{,6} and /proc/PID/fd);
 * undefined where /proc is missing. This tells our server apart from another
 * process that took the port.
 */
export function listensOn(pid: number, port: number): boolean | undefined {
  const tables: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      tables.push(readFileSync(file, 'utf8'));
    } catch {
      // IPv6 may be off; IPv4 alone is enough.
    }
  }
  if (tables.length === 0) return undefined;
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  for (const line of tables.join('\n').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(hexPort) && f[3] === '0A') inodes.add(f[9]!);
  }
  if (inodes.size === 0) return false;
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '');
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'GET', timeout: 1_000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function procStatusKiB(pid: number, field: string): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

const CLOCK_TICK_MS = 10; // USER_HZ is 100 on Linux.

/** User + system CPU time of `pid` so far, in ms (Linux /proc), or undefined. */
export function procCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * CLOCK_TICK_MS;
  } catch {
    return undefined;
  }
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

/** Starts `node <args>` and resolves once it answers HTTP on `port`; rejects with its output if it exits first. */
export async function startServer(options: StartOptions): Promise<ServerProcess> {
  const spawned = performance.now();
  const out = openSync(options.logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, options.args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  live.add(child);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? null : 0);
      live.delete(child);
      resolve(exitCode);
    }),
  );
  const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
  const ours = () => child.pid !== undefined && listensOn(child.pid, options.port) !== false;
  while (!(ours() && (await answers(options.port)))) {
    if (exitCode !== undefined) throw new Error(`${options.name} exited (${exitCode}) before answering:\n${tail(options.logFile)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} did not answer on port ${options.port} in time:\n${tail(options.logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const startupMs = performance.now() - spawned;
  const pid = child.pid!;
  return {
    name: options.name,
    pid,
    port: options.port,
    url: `http://127.0.0.1:${options.port}`,
    logFile: options.logFile,
    startupMs,
    peakRssMiB: () => {
      const kib = procStatusKiB(pid, 'VmHWM');
      return kib === undefined ? undefined : kib / 1024;
    },
    cpuMs: () => procCpuMs(pid),
    async stop() {
      if (exitCode !== undefined) return exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * Starts `node args…` on a free port, as a production function would run (`PORT`, `NODE_ENV=production`): `{port}`
 * in an argument is replaced by the port. Another process may take the port between the check and the child's
 * listen, so an `EADDRINUSE` is retried on another port, up to three times.
 */
export async function startOnFreePort(
  name: string,
  args: string[],
  options: { env?: Record<string, string>; cwd: string; logFile: string },
): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await startServer({
        name,
        args: args.map((a) => a.replace('{port}', String(port))),
        port,
        env: { PORT: String(port), NODE_ENV: 'production', ...options.env },
        cwd: options.cwd,
        logFile: options.logFile,
      });
    } catch (error) {
      if (attempt >= 3 || !/EADDRINUSE/.test((error as Error).message)) throw error;
    }
  }
}

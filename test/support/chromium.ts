/**
 * Headless Chromium for tests, driven over the DevTools protocol on a pipe
 * (`--remote-debugging-pipe`: JSON messages, NUL-terminated, on fds 3 and 4),
 * so no WebSocket client and no browser download are needed. Uses Debian's
 * `chromium` (/usr/bin/chromium, or CHROMIUM_PATH); when it is missing,
 * `launchChromium` throws saying how to install it: a test never skips.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

export interface Page {
  goto(url: string): Promise<void>;
  /** Evaluates `expression` in the page (promises awaited) and returns its JSON value. */
  evaluate<T = unknown>(expression: string): Promise<T>;
  /** Polls `expression` until it is truthy; throws naming `what` after `timeoutMs`. */
  waitFor<T = unknown>(expression: string, what: string, timeoutMs?: number): Promise<T>;
  /** A real mouse click (pressed and released) at the centre of the first element matching `selector`. */
  click(selector: string): Promise<void>;
  screenshot(): Promise<Buffer>;
}

export interface Browser {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

interface Pending {
  resolve(value: Record<string, unknown>): void;
  reject(error: Error): void;
  method: string;
}

/** Starts headless Chromium; see the module comment. */
export async function launchChromium(options: { executablePath?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Browser> {
  const env = options.env ?? process.env;
  const path = options.executablePath ?? env.CHROMIUM_PATH ?? DEFAULT_CHROMIUM;
  if (!existsSync(path)) {
    throw new Error(
      `Chromium not found at ${path}: the inspector's browser test needs it. Install Debian's package (apt-get install -y chromium; .ci/run does this) or set CHROMIUM_PATH.`,
    );
  }
  const profile = await mkdtemp(join(tmpdir(), 'relay-chromium-'));
  const child: ChildProcess = spawn(
    path,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--no-default-browser-check',
      '--remote-debugging-pipe',
      `--user-data-dir=${profile}`,
      '--window-size=1280,900',
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const toBrowser = child.stdio[3] as Writable;
  const fromBrowser = child.stdio[4] as Readable;
  const pending = new Map<number, Pending>();
  const listeners = new Set<(method: string, params: Record<string, unknown>, sessionId?: string) => void>();
  let nextId = 1;
  let buffered = '';
  let exited: Error | undefined;

  fromBrowser.setEncoding('utf8');
  fromBrowser.on('data', (chunk: string) => {
    const parts = (buffered + chunk).split('\0');
    buffered = parts.pop()!;
    for (const part of parts) {
      const message = JSON.parse(part) as {
        id?: number;
        result?: Record<string, unknown>;
        error?: { message: string };
        method?: string;
        params?: Record<string, unknown>;
        sessionId?: string;
      };
      if (message.id !== undefined) {
        const p = pending.get(message.id);
        pending.delete(message.id);
        if (message.error) p?.reject(new Error(`${p.method}: ${message.error.message}`));
        else p?.resolve(message.result ?? {});
      } else if (message.method) {
        for (const l of listeners) l(message.method, message.params ?? {}, message.sessionId);
      }
    }
  });
  child.on('exit', (code, signal) => {
    exited = new Error(`Chromium exited (${signal ?? code}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
    for (const p of pending.values()) p.reject(exited);
    pending.clear();
  });
  child.on('error', (error) => {
    exited = error;
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  });

  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> => {
    if (exited) return Promise.reject(exited);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject, method });
      toBrowser.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  };
  const once = (method: string, sessionId: string, timeoutMs: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`No ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (m: string, _p: unknown, s?: string) => {
        if (m !== method || s !== sessionId) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve();
      };
      listeners.add(listener);
    });

  await send('Browser.getVersion');

  async function newPage(): Promise<Page> {
    const { targetId } = (await send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    const call = (method: string, params?: Record<string, unknown>) => send(method, params, sessionId);
    await call('Page.enable');
    await call('Runtime.enable');
    // --window-size leaves room for (absent) browser chrome; pin the viewport itself.
    await call('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
    const evaluate = async <T>(expression: string): Promise<T> => {
      const out = (await call('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true })) as {
        result: { value?: T };
        exceptionDetails?: { text: string; exception?: { description?: string } };
      };
      if (out.exceptionDetails) throw new Error(`In the page: ${out.exceptionDetails.exception?.description ?? out.exceptionDetails.text}`);
      return out.result.value as T;
    };
    return {
      async goto(url) {
        const loaded = once('Page.loadEventFired', sessionId, 15_000);
        const nav = (await call('Page.navigate', { url })) as { errorText?: string };
        if (nav.errorText) throw new Error(`Could not load ${url}: ${nav.errorText}`);
        await loaded;
      },
      evaluate,
      async waitFor<T>(expression: string, what: string, timeoutMs = 15_000): Promise<T> {
        const until = Date.now() + timeoutMs;
        for (;;) {
          const value = await evaluate<T>(expression);
          if (value) return value;
          if (Date.now() > until) throw new Error(`Timed out after ${timeoutMs} ms waiting for the page to show: ${what}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      },
      async click(selector) {
        const box = await evaluate<{ x: number; y: number } | null>(`(() => {
          const el = document.querySelector(${JSON.stringify(selector)});
          if (!el) return null;
          el.scrollIntoView({ block: 'center' });
          const r = el.getBoundingClientRect();
          return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
        })()`);
        if (!box) throw new Error(`Nothing on the page matches ${selector}`);
        for (const type of ['mousePressed', 'mouseReleased']) {
          await call('Input.dispatchMouseEvent', { type, x: box.x, y: box.y, button: 'left', clickCount: 1 });
        }
      },
      async screenshot() {
        const { data } = (await call('Page.captureScreenshot', { format: 'png' })) as { data: string };
        return Buffer.from(data, 'base64');
      },
    };
  }

  return {
    newPage,
    async close() {
      if (!exited) {
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        await send('Browser.close').catch(() => {});
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await gone;
        clearTimeout(timer);
      }
      await rm(profile, { recursive: true, force: true });
    },
  };
}

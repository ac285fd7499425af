/**
 * Calls reaching a target that is down (503) for `downMs` (default 60 s),
 * with and without `circuit: true` (`npm run chaos -- --circuit`). A sender
 * posts `rate` sync webhooks a second through one relay instance with the
 * default retry policy (4 retries) for the whole outage and a little after.
 */
import type { ServerResponse } from 'node:http';
import { sendJson } from '../emulators/http-util.js';
import { startStack } from '../support/stack.js';

export interface OutageCounts {
  circuit: boolean;
  requests: number;
  /** HTTP calls the target received while down (attempts, retries included). */
  callsWhileDown: number;
  /** Of those, calls made while the circuit was open or half-open. */
  callsWhileOpen: number;
  /** Of those, calls that arrived while it was open: attempts already sent when it opened (none is let in while open). */
  callsArrivingOpen: number;
  /** Of those, calls made while it was half-open: the probes. */
  probeCalls: number;
  /** Times the circuit went from open to half-open (each lets `probes` calls through). */
  halfOpenings: number;
  answers: Record<string, number>;
  /** Requests answered 2xx after the target came back. */
  deliveredAfter: number;
}

export async function runCircuitOutage(options: {
  circuit: boolean;
  downMs?: number;
  rate?: number;
  log?: (l: string) => void;
}): Promise<OutageCounts> {
  const downMs = options.downMs ?? 60_000;
  const rate = options.rate ?? 10;
  const state = { down: true, callsWhileDown: 0, callsWhileOpen: 0, callsArrivingOpen: 0, probeCalls: 0 };
  let circuitState = (): string => 'closed';
  const behaviour = (_req: unknown, res: ServerResponse) => {
    if (state.down) {
      state.callsWhileDown++;
      const now = circuitState();
      if (now !== 'closed') state.callsWhileOpen++;
      if (now === 'open') state.callsArrivingOpen++;
      if (now === 'half-open') state.probeCalls++;
      return sendJson(res, 503, { down: true });
    }
    sendJson(res, 200, { ok: true });
  };
  const stack = await startStack({
    targets: { svc: { behaviour, config: options.circuit ? { circuit: true } : {} } },
    routes: { hook: { verify: { scheme: 'none' }, forward: [{ target: 'svc' }], deadlineMs: 30_000 } },
  });
  circuitState = () => stack.runtime.guards.circuit('svc')?.state ?? 'closed';
  // Sampled every 20 ms: a half-open phase lasts until its probes answer, much longer than that here.
  let halfOpenings = 0;
  let last = 'closed';
  const watch = setInterval(() => {
    const now = circuitState();
    if (now === 'half-open' && last !== 'half-open') halfOpenings++;
    last = now;
  }, 20);
  const answers: Record<string, number> = {};
  let requests = 0;
  let deliveredAfter = 0;
  const pending: Promise<void>[] = [];
  const started = Date.now();
  const timer = setInterval(() => {
    requests++;
    pending.push(
      fetch(`${stack.url}/hook`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }).then(async (r) => {
        const code = r.status === 503 ? (((await r.json()) as { error?: { code?: string } }).error?.code ?? '503') : String(r.status);
        answers[code] = (answers[code] ?? 0) + 1;
        if (!state.down && r.status < 300) deliveredAfter++;
      }),
    );
  }, 1000 / rate);
  await new Promise((r) => setTimeout(r, downMs));
  state.down = false;
  options.log?.(`target up after ${Date.now() - started} ms; ${state.callsWhileDown} calls while down`);
  await new Promise((r) => setTimeout(r, 35_000));
  clearInterval(timer);
  clearInterval(watch);
  await Promise.allSettled(pending);
  await stack.close();
  return {
    circuit: options.circuit,
    requests,
    callsWhileDown: state.callsWhileDown,
    callsWhileOpen: state.callsWhileOpen,
    callsArrivingOpen: state.callsArrivingOpen,
    probeCalls: state.probeCalls,
    halfOpenings,
    answers,
    deliveredAfter,
  };
}

/**
 * A per-target circuit breaker, in memory, per instance.
 *
 * closed  — every call goes through; outcomes are counted in a sliding window
 *           of `windowMs` (ten buckets). Once at least `minimumCalls` were seen
 *           and the failure share reaches `failureRate`, the circuit opens.
 * open    — calls are refused at once for `coolDownMs` (the caller answers 503
 *           with `Retry-After`, or nacks so Pub/Sub's backoff spaces retries).
 * half-open — after the cool-down, up to `probes` calls go through at once;
 *           as many successes close the circuit, one failure opens it again.
 *
 * Only what a retry could fix counts as a failure (the caller classifies);
 * outcomes that say nothing about the target's health are `ignored`.
 */

/** `targets.<name>.circuit` once parsed; see {@link CIRCUIT_DEFAULTS}. */
export interface CircuitOptions {
  /** Share of failed calls (0..1) in the window that opens the circuit. */
  failureRate: number;
  /** Fewest calls in the window before the rate is judged. */
  minimumCalls: number;
  /** Length of the sliding window, ms. */
  windowMs: number;
  /** How long an open circuit refuses calls before probing, ms. */
  coolDownMs: number;
  /** Probe calls let through after the cool-down; this many successes close the circuit. */
  probes: number;
}

/** The defaults `circuit: {}` (or `circuit: true`) stands for. */
export const CIRCUIT_DEFAULTS: CircuitOptions = Object.freeze({
  failureRate: 0.5,
  minimumCalls: 20,
  windowMs: 30_000,
  coolDownMs: 30_000,
  probes: 3,
});

export type CircuitState = 'closed' | 'open' | 'half-open';
export type CallOutcome = 'success' | 'failure' | 'ignored';

/** What a state change reports, for the one log line on open and close. */
export interface CircuitChange {
  state: CircuitState;
  from: CircuitState;
  failures: number;
  calls: number;
}

export type Permit =
  | { allowed: true; probe: boolean; /** Call exactly once with how the call went. */ report(outcome: CallOutcome): void }
  | { allowed: false; /** Until the circuit lets a probe through. */ retryAfterMs: number };

export interface CircuitDeps {
  /** ms since the epoch; default Date.now. */
  now?: () => number;
  onChange?: (change: CircuitChange) => void;
}

const BUCKETS = 10;

export class Circuit {
  readonly options: CircuitOptions;
  readonly #now: () => number;
  readonly #onChange: (change: CircuitChange) => void;
  #state: CircuitState = 'closed';
  #openedAt = 0;
  /** Per bucket: start time, calls, failures. */
  #buckets: { start: number; calls: number; failures: number }[] = [];
  #probesInFlight = 0;
  #probeSuccesses = 0;
  /** Bumped on every state change, so a report from an older state is not counted in the new one. */
  #epoch = 0;

  constructor(options: CircuitOptions, deps: CircuitDeps = {}) {
    if (!(options.failureRate > 0 && options.failureRate <= 1))
      throw new RangeError(`Expected \`failureRate\` in (0, 1], got ${options.failureRate}`);
    if (!(options.probes >= 1)) throw new RangeError(`Expected \`probes\` to be at least 1, got ${options.probes}`);
    this.options = options;
    this.#now = deps.now ?? Date.now;
    this.#onChange = deps.onChange ?? (() => {});
  }

  get state(): CircuitState {
    if (this.#state === 'open' && this.#now() - this.#openedAt >= this.options.coolDownMs) return 'half-open';
    return this.#state;
  }

  /** Counts in the current window. */
  counts(): { calls: number; failures: number } {
    this.#prune(this.#now());
    let calls = 0;
    let failures = 0;
    for (const b of this.#buckets) {
      calls += b.calls;
      failures += b.failures;
    }
    return { calls, failures };
  }

  /** Asks to make one call now. */
  acquire(): Permit {
    const now = this.#now();
    if (this.#state === 'open') {
      const left = this.options.coolDownMs - (now - this.#openedAt);
      if (left > 0) return { allowed: false, retryAfterMs: left };
      this.#change('half-open');
    }
    if (this.#state === 'half-open') {
      if (this.#probesInFlight + this.#probeSuccesses >= this.options.probes) {
        // Probes are out; the rest wait for their verdict (a probe is at most one call's time).
        return { allowed: false, retryAfterMs: Math.min(this.options.coolDownMs, 1000) };
      }
      this.#probesInFlight++;
      return { allowed: true, probe: true, report: this.#reporter(true) };
    }
    return { allowed: true, probe: false, report: this.#reporter(false) };
  }

  #reporter(probe: boolean): (outcome: CallOutcome) => void {
    const epoch = this.#epoch;
    let reported = false;
    return (outcome) => {
      if (reported) return;
      reported = true;
      if (epoch !== this.#epoch) return; // the circuit moved on while this call ran
      if (probe) {
        this.#probesInFlight--;
        if (outcome === 'failure') return this.#open();
        if (outcome === 'success' && ++this.#probeSuccesses >= this.options.probes) this.#close();
        return;
      }
      if (outcome === 'ignored') return;
      this.#record(outcome === 'failure');
    };
  }

  #record(failed: boolean): void {
    const now = this.#now();
    this.#prune(now);
    const width = this.options.windowMs / BUCKETS;
    let last = this.#buckets.at(-1);
    if (!last || now - last.start >= width) {
      last = { start: now - ((now - (last?.start ?? now)) % width), calls: 0, failures: 0 };
      this.#buckets.push(last);
    }
    last.calls++;
    if (failed) last.failures++;
    const { calls, failures } = this.counts();
    if (failed && calls >= this.options.minimumCalls && failures / calls >= this.options.failureRate) this.#open();
  }

  #prune(now: number): void {
    while (this.#buckets.length > 0 && now - this.#buckets[0]!.start >= this.options.windowMs) this.#buckets.shift();
  }

  #open(): void {
    this.#openedAt = this.#now();
    this.#change('open');
  }

  #close(): void {
    this.#change('closed');
  }

  #change(state: CircuitState): void {
    const from = this.#state;
    const { calls, failures } = this.counts();
    this.#state = state;
    this.#epoch++;
    this.#probesInFlight = 0;
    this.#probeSuccesses = 0;
    if (state === 'closed') this.#buckets = [];
    this.#onChange({ state, from, calls, failures });
  }
}

/**
 * One request's time budget, on ONE timer. Under the Functions Framework
 * every timer and promise a request creates pays for the framework's
 * per-request `domain`, so the deadline and each attempt's timeout share a
 * single `setTimeout`, set for whichever comes first and started only when
 * something has to wait: a request whose token is cached and whose target
 * answers creates exactly one timer (the first attempt's), and no
 * `AbortSignal.timeout` / `AbortSignal.any`.
 */
import { RelayError } from '../errors.js';

/** Something bounded by the deadline: `fire` is called once, with why it ran out. */
interface Bound {
  at: number;
  fire: (reason: 'deadline' | 'timeout') => void;
}

export interface DeadlineOptions {
  /** Monotonic clock in ms; default performance.now. */
  clock?: () => number;
}

/** A request's deadline; see the module comment. */
export class Deadline {
  /** When the budget ends, on {@link DeadlineOptions.clock}. */
  readonly at: number;
  /** Made when {@link signal} is first read: the common request never reads it (one object fewer per request). */
  private controller: AbortController | undefined;
  /** Set once the budget has ended, with why. */
  private ended: { reason: unknown } | undefined;
  private readonly clock: () => number;
  private readonly bounds = new Set<Bound>();
  private armed = false;
  private cleared = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Number.POSITIVE_INFINITY;

  constructor(
    readonly ms: number,
    options: DeadlineOptions = {},
  ) {
    this.clock = options.clock ?? (() => performance.now());
    this.at = this.clock() + ms;
  }

  /** Aborts at the deadline with a RelayError `deadline_exceeded`; reading it {@link arm}s the timer. */
  get signal(): AbortSignal {
    this.arm();
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.ended) this.controller.abort(this.ended.reason);
    }
    return this.controller.signal;
  }

  /** Whether the budget is spent (checked against the clock, so it holds even before any timer fired). */
  get expired(): boolean {
    if (!this.ended && !this.cleared && this.clock() >= this.at) this.expire(this.error());
    return this.ended !== undefined;
  }

  /** Why the deadline ended: a RelayError `deadline_exceeded`, or the reason of the signal it follows. */
  get reason(): unknown {
    return this.ended ? this.ended.reason : this.error();
  }

  /** A deadline that ends when `signal` aborts, with its reason (for callers holding an AbortSignal). */
  static following(signal: AbortSignal): Deadline {
    const deadline = new Deadline(Number.POSITIVE_INFINITY);
    if (signal.aborted) deadline.expire(signal.reason);
    else signal.addEventListener('abort', () => deadline.expire(signal.reason), { once: true });
    return deadline;
  }

  /** Makes {@link signal} fire at the deadline (for waits that listen to it: token fetches, backoff). */
  arm(): void {
    if (this.cleared || this.armed) return;
    this.armed = true;
    this.schedule(this.at);
  }

  /**
   * Calls `fire` once, at the deadline (`'deadline'`) or `timeoutMs` from now
   * (`'timeout'`), whichever is first, unless the returned release is called
   * before.
   */
  bound(timeoutMs: number, fire: Bound['fire']): () => void {
    if (this.cleared || this.expired) {
      fire('deadline');
      return () => {};
    }
    const bound: Bound = { at: Math.min(this.at, this.clock() + timeoutMs), fire };
    this.bounds.add(bound);
    this.schedule(bound.at);
    return () => {
      this.bounds.delete(bound);
    };
  }

  /** Stops the timer; call when the request is done. */
  clear(): void {
    this.cleared = true;
    this.bounds.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private expire(reason: unknown): void {
    if (this.ended) return;
    this.ended = { reason };
    const due = [...this.bounds];
    this.bounds.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.controller?.abort(reason);
    for (const b of due) b.fire('deadline');
  }

  private error(): RelayError {
    return new RelayError('deadline_exceeded', `No answer from the target within the ${this.ms} ms deadline`);
  }

  private schedule(at: number): void {
    if (this.cleared || at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.tick, Math.max(0, Math.ceil(at - this.clock())));
    this.timer.unref?.();
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    if (this.cleared) return;
    const now = this.clock();
    // Timers may fire up to a millisecond early on the monotonic clock.
    if (now >= this.at - 1) return this.expire(this.error());
    let next = this.armed ? this.at : Number.POSITIVE_INFINITY;
    for (const b of [...this.bounds]) {
      if (now >= b.at - 1) {
        this.bounds.delete(b);
        b.fire('timeout');
      } else if (b.at < next) next = b.at;
    }
    if (next !== Number.POSITIVE_INFINITY) this.schedule(next);
  };
}

/** A request deadline `ms` from now; see {@link Deadline}. */
export function createDeadline(ms: number, options?: DeadlineOptions): Deadline {
  return new Deadline(ms, options);
}

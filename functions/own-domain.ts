/**
 * The Functions Framework runs every call inside its own `domain`
 * (`domain.create().run(...)`, v5.0.5). While a domain is active, every
 * promise, timer, tick and event emitter the process creates is paired with
 * it by the domain module's async hook: a destroy hook per promise, an enter
 * and an exit around every callback. The relay does not need that net: it
 * answers every failure of its own (`relay.handle` and the deliverer never
 * throw past their callers, and a rejection is not caught by a domain
 * anyway), and what a domain would catch (a synchronous throw in a callback)
 * still reaches the framework's `uncaughtException` handler, which answers
 * 500 and restarts the instance.
 *
 * So the functions run their work with the framework's domain exited: the
 * async resources they create are not paired with it. The domain is entered
 * again before returning, so the framework's own bookkeeping after the call
 * runs as it always did.
 */
export function outsideFrameworkDomain<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
  return (...args) => {
    const active = (process as { domain?: { enter(): void; exit(): void } | null }).domain;
    if (!active) return fn(...args);
    active.exit();
    try {
      return fn(...args);
    } finally {
      active.enter();
    }
  };
}

import { describe, expect, it } from 'vitest';
import { Circuit, CIRCUIT_DEFAULTS, type CallOutcome, type CircuitChange, type CircuitOptions } from '../../shared/forward/circuit.js';

function setup(options: Partial<CircuitOptions> = {}) {
  const clock = { now: 1_000_000 };
  const changes: CircuitChange[] = [];
  const circuit = new Circuit({ ...CIRCUIT_DEFAULTS, ...options }, { now: () => clock.now, onChange: (c) => changes.push(c) });
  const call = (outcome: CallOutcome) => {
    const permit = circuit.acquire();
    if (!permit.allowed) return false;
    permit.report(outcome);
    return true;
  };
  return { clock, changes, circuit, call };
}

describe('circuit breaker', () => {
  it('stays closed below the minimum number of calls, however many fail', () => {
    const { circuit, call } = setup();
    for (let i = 0; i < 19; i++) call('failure');
    expect(circuit.state).toBe('closed');
  });

  it('opens once at least minimumCalls were seen and half of them failed', () => {
    const { circuit, call, changes } = setup();
    for (let i = 0; i < 10; i++) call('success');
    for (let i = 0; i < 9; i++) call('failure');
    expect(circuit.state).toBe('closed');
    call('failure');
    expect(circuit.state).toBe('open');
    expect(changes).toEqual([{ state: 'open', from: 'closed', calls: 20, failures: 10 }]);
  });

  it('does not count ignored outcomes', () => {
    const { circuit, call } = setup({ minimumCalls: 4 });
    for (let i = 0; i < 10; i++) call('ignored');
    call('failure');
    call('failure');
    call('success');
    expect(circuit.counts()).toEqual({ calls: 3, failures: 2 });
    expect(circuit.state).toBe('closed');
  });

  it('forgets outcomes older than the window', () => {
    const { circuit, call, clock } = setup({ minimumCalls: 4, windowMs: 10_000 });
    for (let i = 0; i < 3; i++) call('failure');
    clock.now += 10_001;
    call('failure');
    expect(circuit.counts()).toEqual({ calls: 1, failures: 1 });
    expect(circuit.state).toBe('closed');
  });

  it('refuses calls while open, with the time left of the cool-down', () => {
    const { circuit, call, clock } = setup({ minimumCalls: 2, coolDownMs: 5_000 });
    call('failure');
    call('failure');
    clock.now += 2_000;
    expect(circuit.acquire()).toEqual({ allowed: false, retryAfterMs: 3_000 });
  });

  it('lets exactly `probes` calls through after the cool-down and closes when they succeed', () => {
    const { circuit, call, clock, changes } = setup({ minimumCalls: 2, coolDownMs: 5_000, probes: 2 });
    call('failure');
    call('failure');
    clock.now += 5_000;
    const a = circuit.acquire();
    const b = circuit.acquire();
    const c = circuit.acquire();
    expect([a.allowed, b.allowed, c.allowed]).toEqual([true, true, false]);
    if (!a.allowed || !b.allowed) throw new Error('unreachable');
    expect(a.probe && b.probe).toBe(true);
    a.report('success');
    expect(circuit.state).toBe('half-open');
    b.report('success');
    expect(circuit.state).toBe('closed');
    expect(changes.map((c) => c.state)).toEqual(['open', 'half-open', 'closed']);
    expect(circuit.counts()).toEqual({ calls: 0, failures: 0 });
  });

  it('opens again for a full cool-down when a probe fails', () => {
    const { circuit, call, clock } = setup({ minimumCalls: 2, coolDownMs: 5_000 });
    call('failure');
    call('failure');
    clock.now += 5_000;
    expect(call('failure')).toBe(true);
    expect(circuit.state).toBe('open');
    expect(circuit.acquire()).toEqual({ allowed: false, retryAfterMs: 5_000 });
  });

  it('does not count a call that started before the circuit changed state', () => {
    const { circuit, call } = setup({ minimumCalls: 2 });
    const slow = circuit.acquire();
    call('failure');
    call('failure');
    expect(circuit.state).toBe('open');
    if (!slow.allowed) throw new Error('unreachable');
    slow.report('success');
    expect(circuit.state).toBe('open');
  });

  it.each([
    [{ failureRate: 0 }, /failureRate/],
    [{ failureRate: 1.5 }, /failureRate/],
    [{ probes: 0 }, /probes/],
  ])('refuses options %j', (bad, message) => {
    expect(() => new Circuit({ ...CIRCUIT_DEFAULTS, ...bad })).toThrow(message);
  });
});

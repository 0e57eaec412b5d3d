import { describe, expect, it } from 'vitest';
import { findBehaviourProblem, SimulatedDependency, SimulatedFailureError } from './simulation.js';

describe('SimulatedDependency', () => {
  it('fails with the failure rate, changed at run time', async () => {
    const values = [0.1, 0.9];
    let index = 0;
    const dependency = new SimulatedDependency(
      'database',
      { failureRate: 0.5, latencyMs: 0, jitterMs: 0 },
      () => values[index++ % values.length] ?? 0,
    );
    await expect(dependency.call(() => 'ok')).rejects.toBeInstanceOf(SimulatedFailureError);
    await expect(dependency.call(() => 'ok')).resolves.toBe('ok');
    dependency.configure({ failureRate: 0 });
    await expect(dependency.call(() => 'ok')).resolves.toBe('ok');
    dependency.configure({ failureRate: 1 });
    await expect(dependency.call(() => 'ok')).rejects.toThrow('database: simulated failure');
    expect(dependency.stats).toEqual({ calls: 4, failures: 2 });
  });

  it('waits the latency and stops waiting when the signal aborts', async () => {
    const dependency = new SimulatedDependency('cache', { failureRate: 0, latencyMs: 60, jitterMs: 0 });
    const started = performance.now();
    await dependency.call(() => 'ok');
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    dependency.configure({ latencyMs: 20_000 });
    const controller = new AbortController();
    const call = dependency.call(() => 'late', controller.signal);
    controller.abort(new Error('client left'));
    await expect(call).rejects.toThrow('client left');
  });

  it('rejects invalid changes, naming the field', () => {
    expect(findBehaviourProblem({ failureRate: 1.5 })).toBe('failureRate must be between 0 and 1');
    expect(findBehaviourProblem({ latencyMs: -1 })).toBe('latencyMs must be between 0 and 30000');
    expect(findBehaviourProblem({ latency: 5 })).toBe('unknown field "latency"');
    expect(findBehaviourProblem({ jitterMs: '5' })).toBe('jitterMs must be a number');
    expect(findBehaviourProblem([])).toBe('the body must be an object');
    expect(findBehaviourProblem({ failureRate: 0.2, latencyMs: 100 })).toBeNull();
    const dependency = new SimulatedDependency('cache', { failureRate: 0, latencyMs: 0, jitterMs: 0 });
    expect(() => dependency.configure({ failureRate: 2 })).toThrow(RangeError);
  });
});

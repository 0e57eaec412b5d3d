import { createCircuitBreaker } from '@xnai/cb-core';
import { MemoryStateStore } from '@xnai/cb-store-memory';
import promClient, { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { parseExposition, sampleValue } from './__tests__/exposition.js';
import { METRIC_NAMES, RESILIENCE4J_NAMES } from './names.js';
import { createPrometheusMetrics, type PrometheusMetrics } from './prometheus-metrics.js';

const boom = (): Promise<never> => Promise.reject(new Error('down'));
const open: PrometheusMetrics[] = [];
afterEach(() => {
  for (const metrics of open.splice(0)) metrics.close();
});
function track(metrics: PrometheusMetrics): PrometheusMetrics {
  open.push(metrics);
  return metrics;
}

describe('PrometheusMetrics on single breakers', () => {
  it('counts calls and observes durations per breaker, and reads the state one-hot at scrape time', async () => {
    const register = new Registry();
    const metrics = track(createPrometheusMetrics({ register }));
    const breaker = createCircuitBreaker({
      name: 'local',
      store: new MemoryStateStore(),
      failureThreshold: 1,
      fallback: () => 'cached',
    });
    metrics.bindBreaker(breaker);
    await breaker.execute(() => 'ok');
    await breaker.execute(boom);
    await breaker.execute(() => 'never');
    const families = parseExposition(await register.metrics());
    expect(sampleValue(families, 'circuit_breaker_calls_total', { name: 'local', outcome: 'success' })).toBe(
      1,
    );
    expect(sampleValue(families, 'circuit_breaker_calls_total', { name: 'local', outcome: 'failure' })).toBe(
      1,
    );
    expect(
      sampleValue(families, 'circuit_breaker_calls_total', {
        name: 'local',
        outcome: 'rejected',
        reason: 'open',
      }),
    ).toBe(1);
    expect(sampleValue(families, 'circuit_breaker_fallbacks_total', { name: 'local' })).toBe(2);
    expect(sampleValue(families, 'circuit_breaker_state', { name: 'local', state: 'open' })).toBe(1);
    expect(
      sampleValue(families, 'circuit_breaker_transitions_total', {
        name: 'local',
        from: 'closed',
        to: 'open',
        reason: 'failure_threshold',
      }),
    ).toBe(1);
    // The state gauge is read when scraped, not when an event arrives.
    await breaker.forceClosed();
    const later = parseExposition(await register.metrics());
    expect(sampleValue(later, 'circuit_breaker_state', { name: 'local', state: 'forced_closed' })).toBe(1);
    expect(sampleValue(later, 'circuit_breaker_state', { name: 'local', state: 'open' })).toBe(0);
  });

  it('puts the prefix before every name it registers', () => {
    const register = new Registry();
    const metrics = track(createPrometheusMetrics({ register, prefix: 'svc_' }));
    const expected = Object.values(METRIC_NAMES).map((name) => `svc_${name}`);
    expect([...metrics.metricNames].sort()).toEqual(expected.sort());
    expect(
      register
        .getMetricsAsArray()
        .map((metric) => metric.name)
        .sort(),
    ).toEqual(expected.sort());
  });

  it('never registers default metrics, in the given registry or the global one', async () => {
    const register = new Registry();
    track(createPrometheusMetrics({ register }));
    const names = [...parseExposition(await register.metrics()).keys()];
    expect(names.filter((name) => /^(process|nodejs)_/.test(name))).toEqual([]);
    expect(promClient.register.getMetricsAsArray()).toEqual([]);
  });

  it('takes resilience4j names: one-hot state with disabled, calls by kind, not permitted, failure rate', async () => {
    const register = new Registry();
    const metrics = track(createPrometheusMetrics({ register, naming: 'resilience4j' }));
    const breaker = createCircuitBreaker({
      name: 'backendA',
      store: new MemoryStateStore(),
      slidingWindow: { type: 'count', size: 10 },
      minimumCalls: 4,
      failureRateThreshold: 0.5,
      callTimeoutMs: 5,
      classifyError: (error) => ((error as Error).message === 'skip' ? 'ignored' : 'failure'),
    });
    metrics.bindBreaker(breaker);
    for (let i = 0; i < 3; i++) await breaker.execute(() => 'ok');
    await breaker.execute(boom).catch(() => undefined);
    await breaker.execute(() => Promise.reject(new Error('skip'))).catch(() => undefined);
    let families = parseExposition(await register.metrics());
    const calls = RESILIENCE4J_NAMES.calls;
    expect(sampleValue(families, calls, { name: 'backendA', kind: 'successful' }, `${calls}_count`)).toBe(3);
    expect(sampleValue(families, calls, { name: 'backendA', kind: 'failed' }, `${calls}_count`)).toBe(1);
    expect(sampleValue(families, calls, { name: 'backendA', kind: 'ignored' }, `${calls}_count`)).toBe(1);
    expect(sampleValue(families, RESILIENCE4J_NAMES.failureRate, { name: 'backendA' })).toBe(25);
    expect(
      sampleValue(families, RESILIENCE4J_NAMES.bufferedCalls, { name: 'backendA', kind: 'failed' }),
    ).toBe(1);
    expect(
      sampleValue(families, RESILIENCE4J_NAMES.bufferedCalls, { name: 'backendA', kind: 'successful' }),
    ).toBe(3);
    expect(
      sampleValue(families, RESILIENCE4J_NAMES.callsMax, { name: 'backendA', kind: 'successful' }),
    ).toBeGreaterThan(0);
    // A timeout is a failed call, as resilience4j counts it.
    await breaker
      .execute(
        (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      )
      .catch(() => undefined);
    await breaker.execute(boom).catch(() => undefined);
    families = parseExposition(await register.metrics());
    expect(sampleValue(families, calls, { name: 'backendA', kind: 'failed' }, `${calls}_count`)).toBe(3);
    expect(breaker.status).toBe('open');
    await breaker.execute(() => 'never').catch(() => undefined);
    families = parseExposition(await register.metrics());
    expect(
      sampleValue(families, RESILIENCE4J_NAMES.notPermitted, { name: 'backendA', kind: 'not_permitted' }),
    ).toBe(1);
    expect(sampleValue(families, RESILIENCE4J_NAMES.state, { name: 'backendA', state: 'open' })).toBe(1);
    await breaker.forceClosed();
    families = parseExposition(await register.metrics());
    const states = families
      .get(RESILIENCE4J_NAMES.state)
      ?.samples.filter((sample) => sample.labels.name === 'backendA');
    expect(Object.fromEntries(states?.map((sample) => [sample.labels.state, sample.value]) ?? [])).toEqual({
      closed: 0,
      open: 0,
      half_open: 0,
      forced_open: 0,
      disabled: 1,
      metrics_only: 0,
    });
    // Our own per-circuit names are not registered in this mode.
    expect(families.has('circuit_breaker_calls_total')).toBe(false);
  });

  it('starts counters over on resetMetrics(), and serves OpenMetrics', async () => {
    const register = new Registry();
    const metrics = track(createPrometheusMetrics({ register }));
    const breaker = createCircuitBreaker({ name: 'reset', store: new MemoryStateStore() });
    metrics.bindBreaker(breaker);
    await breaker.execute(() => 'ok');
    register.resetMetrics();
    await breaker.execute(() => 'ok');
    const families = parseExposition(await register.metrics());
    expect(sampleValue(families, 'circuit_breaker_calls_total', { name: 'reset', outcome: 'success' })).toBe(
      1,
    );
    register.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
    expect(await register.metrics()).toContain(
      'circuit_breaker_calls_total{name="reset",outcome="success"} 1',
    );
  });

  it('stops counting a breaker whose binding is disposed, and close() removes every metric', async () => {
    const register = new Registry();
    const metrics = createPrometheusMetrics({ register });
    const breaker = createCircuitBreaker({ name: 'gone', store: new MemoryStateStore() });
    const binding = metrics.bindBreaker(breaker);
    await breaker.execute(() => 'ok');
    binding.dispose();
    await breaker.execute(() => 'ok');
    const families = parseExposition(await register.metrics());
    expect(sampleValue(families, 'circuit_breaker_calls_total', { name: 'gone', outcome: 'success' })).toBe(
      1,
    );
    expect(sampleValue(families, 'circuit_breaker_state', { name: 'gone', state: 'closed' })).toBeUndefined();
    metrics.close();
    metrics.close();
    expect(register.getMetricsAsArray()).toEqual([]);
    expect(() => metrics.bindBreaker(breaker)).toThrow('these PrometheusMetrics were closed');
  });

  it('validates its options, naming the option and the value', () => {
    const register = new Registry();
    expect(() => createPrometheusMetrics({} as never)).toThrow('register must be a prom-client Registry');
    expect(() => createPrometheusMetrics({ register, prefix: '1x' })).toThrow(/prefix must be empty/);
    expect(() => createPrometheusMetrics({ register, naming: 'micrometer' as never })).toThrow(
      'naming must be one of "xnai", "resilience4j", got "micrometer"',
    );
    expect(() => createPrometheusMetrics({ register, durationBuckets: [1, 0.5] })).toThrow(RangeError);
    expect(() => createPrometheusMetrics({ register, colour: 'red' } as never)).toThrow(
      'options has an unknown option "colour"',
    );
    // A failed construction leaves nothing registered; a second instance on one registry is refused.
    expect(register.getMetricsAsArray()).toEqual([]);
    track(createPrometheusMetrics({ register }));
    expect(() => createPrometheusMetrics({ register })).toThrow(/already been registered/);
  });
});

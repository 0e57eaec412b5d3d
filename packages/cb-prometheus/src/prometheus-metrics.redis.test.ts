import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { CircuitBreakerRegistry } from '@xnai/cb-registry';
import { type RedisServer, startRedis, waitFor } from '@xnai/test-utils';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ParsedFamily, parseExposition, sampleValue } from './__tests__/exposition.js';
import { createPrometheusMetrics } from './prometheus-metrics.js';

const FAST = {
  operationTimeoutMs: 100,
  fallbackProbeIntervalMs: 50,
  recoveryThreshold: 2,
  reconnectMaxDelayMs: 100,
  connectionTimeoutMs: 1_000,
};
const boom = (): Promise<never> => Promise.reject(new Error('down'));

let server: RedisServer;

beforeAll(async () => {
  server = await startRedis({ controllable: true });
});
afterAll(async () => {
  await server?.stop();
});

async function instance(keyPrefix: string): Promise<CircuitBreakerRegistry> {
  const manager = new RedisConnectionManager({ url: server.url, ...FAST });
  await manager.connect();
  return new CircuitBreakerRegistry({ redis: manager, keyPrefix });
}

async function scrape(register: Registry): Promise<Map<string, ParsedFamily>> {
  return parseExposition(await register.metrics());
}

describe('Prometheus metrics of a registry on real Redis', () => {
  it('reports every metric correctly after calls, trips, an operator action, a change from another instance and an outage', async () => {
    const keyPrefix = `prom${Date.now()}:`;
    const a = await instance(keyPrefix);
    const b = await instance(keyPrefix);
    const register = new Registry();
    const metrics = createPrometheusMetrics({ register });
    try {
      metrics.bindRegistry(a);
      a.registerCircuitBreaker('payments', { failureThreshold: 2 });
      a.registerCircuitBreaker('slow', { callTimeoutMs: 20, failureThreshold: 10 });
      a.registerCircuitBreaker('inventory', {
        classifyError: (error) => ((error as Error).message === 'not found' ? 'ignored' : 'failure'),
      });
      a.registerCircuitBreaker('shipping');
      a.registerCircuitBreaker('outage', { failureThreshold: 10 });
      b.registerCircuitBreaker('shipping', { failureThreshold: 1 });

      // Calls and a trip.
      for (let i = 0; i < 3; i++) await a.callWithCircuitBreaker('payments', () => 'ok');
      for (let i = 0; i < 2; i++) await a.callWithCircuitBreaker('payments', boom).catch(() => undefined);
      await a.callWithCircuitBreaker('payments', () => 'never').catch(() => undefined);
      // A timeout, an ignored error, and an operator's force-open with one rejected call.
      await a
        .callWithCircuitBreaker(
          'slow',
          (signal) =>
            new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
        )
        .catch(() => undefined);
      await a
        .callWithCircuitBreaker('inventory', () => Promise.reject(new Error('not found')))
        .catch(() => undefined);
      await a.forceOpen('inventory', { reason: 'maintenance' });
      await a.callWithCircuitBreaker('inventory', () => 'never').catch(() => undefined);
      // Another instance opens a circuit; this one hears of it through Redis.
      await b.callWithCircuitBreaker('shipping', boom).catch(() => undefined);
      await waitFor(() => a.get('shipping')?.status === 'open', { timeoutMs: 3_000 });
      await a.get('payments')?.flush();

      let families = await scrape(register);
      const state = (name: string, status: string) =>
        sampleValue(families, 'circuit_breaker_state', { name, state: status });
      expect(state('payments', 'open')).toBe(1);
      for (const other of ['closed', 'half_open', 'forced_open', 'forced_closed']) {
        expect(state('payments', other)).toBe(0);
      }
      expect(state('inventory', 'forced_open')).toBe(1);
      expect(state('shipping', 'open')).toBe(1);
      expect(state('slow', 'closed')).toBe(1);
      // One-hot: exactly one status per circuit.
      for (const name of a.list()) {
        const ones = families
          .get('circuit_breaker_state')
          ?.samples.filter((sample) => sample.labels.name === name && sample.value === 1);
        expect(ones, name).toHaveLength(1);
      }

      const calls = (name: string, outcome: string, reason?: string) =>
        sampleValue(families, 'circuit_breaker_calls_total', {
          name,
          outcome,
          ...(reason === undefined ? {} : { reason }),
        });
      expect(calls('payments', 'success')).toBe(3);
      expect(calls('payments', 'failure')).toBe(2);
      expect(calls('payments', 'rejected', 'open')).toBe(1);
      expect(calls('slow', 'timeout')).toBe(1);
      expect(calls('slow', 'failure')).toBe(0);
      expect(calls('inventory', 'ignored')).toBe(1);
      expect(calls('inventory', 'rejected', 'forced_open')).toBe(1);

      const transitions = (name: string, from: string, to: string, reason: string) =>
        sampleValue(families, 'circuit_breaker_transitions_total', { name, from, to, reason });
      expect(transitions('payments', 'closed', 'open', 'failure_threshold')).toBe(1);
      expect(transitions('inventory', 'closed', 'forced_open', 'forced_open')).toBe(1);
      expect(transitions('shipping', 'closed', 'open', 'failure_threshold')).toBe(1);

      const duration = 'circuit_breaker_call_duration_seconds';
      expect(
        sampleValue(families, duration, { name: 'payments', outcome: 'success' }, `${duration}_count`),
      ).toBe(3);
      expect(
        sampleValue(families, duration, { name: 'payments', outcome: 'failure' }, `${duration}_count`),
      ).toBe(2);
      // The timed-out call ran at least its 20 ms timeout: nothing in the buckets below it.
      expect(
        sampleValue(
          families,
          duration,
          { name: 'slow', outcome: 'timeout', le: '0.01' },
          `${duration}_bucket`,
        ),
      ).toBe(0);
      expect(
        sampleValue(
          families,
          duration,
          { name: 'slow', outcome: 'timeout', le: '+Inf' },
          `${duration}_bucket`,
        ),
      ).toBe(1);
      expect(
        sampleValue(families, duration, { name: 'slow', outcome: 'timeout' }, `${duration}_sum`),
      ).toBeGreaterThanOrEqual(0.019);

      const storeOperation = 'circuit_breaker_store_operation_duration_seconds';
      expect(
        sampleValue(
          families,
          storeOperation,
          { operation: 'record', served_by: 'redis' },
          `${storeOperation}_count`,
        ),
      ).toBeGreaterThanOrEqual(2);
      const propagation = 'circuit_breaker_state_propagation_delay_seconds';
      expect(sampleValue(families, propagation, {}, `${propagation}_count`)).toBeGreaterThanOrEqual(1);
      // Loopback: the fleet hears of a transition within a second (Redis time on both ends).
      expect(sampleValue(families, propagation, { le: '1' }, `${propagation}_bucket`)).toBe(
        sampleValue(families, propagation, {}, `${propagation}_count`),
      );
      expect(sampleValue(families, 'circuit_breaker_store_mode', { mode: 'redis' })).toBe(1);
      expect(sampleValue(families, 'circuit_breaker_store_mode', { mode: 'memory' })).toBe(0);
      expect(sampleValue(families, 'redis_connected')).toBe(1);
      expect(sampleValue(families, 'fallback_states_active')).toBe(0);
      expect(families.get('state_persistence_failures_total')?.samples).toEqual([]);

      // The outage: Redis killed, a failure recorded in memory only.
      await server.kill();
      await waitFor(() => a.redis?.fallbackMode === true, { timeoutMs: 5_000 });
      await a.callWithCircuitBreaker('outage', boom).catch(() => undefined);
      await a.get('outage')?.flush();
      families = await scrape(register);
      expect(sampleValue(families, 'redis_connected')).toBe(0);
      expect(sampleValue(families, 'circuit_breaker_store_mode', { mode: 'memory' })).toBe(1);
      expect(sampleValue(families, 'circuit_breaker_store_mode', { mode: 'redis' })).toBe(0);
      expect(sampleValue(families, 'fallback_states_active')).toBe(1);
      expect(
        sampleValue(families, 'state_persistence_failures_total', { name: 'outage', operation: 'record' }),
      ).toBe(1);
      expect(
        sampleValue(
          families,
          storeOperation,
          { operation: 'record', served_by: 'memory' },
          `${storeOperation}_count`,
        ),
      ).toBe(1);
      // A tripped breaker and an outage: the scrape still answers, every family still well-formed.

      // Redis is back: reconciled, counted by result.
      await server.restart();
      // The reconciled event ends a run, after the circuits settled: wait for it, not for the gauge.
      const successfulRuns = (scraped: Map<string, ParsedFamily>) =>
        scraped
          .get('circuit_breaker_reconciliations_total')
          ?.samples.filter((sample) => sample.labels.result === 'success')
          .reduce((sum, sample) => sum + sample.value, 0) ?? 0;
      await waitFor(
        async () => {
          const scraped = await scrape(register);
          return (
            successfulRuns(scraped) >= 1 &&
            (sampleValue(scraped, 'circuit_breaker_reconciled_circuits_total', { result: 'merged' }) ?? 0) >=
              1
          );
        },
        { timeoutMs: 10_000 },
      );
      await waitFor(() => a.redis?.isConnected === true, { timeoutMs: 10_000 });
      families = await scrape(register);
      expect(sampleValue(families, 'redis_connected')).toBe(1);
      expect(sampleValue(families, 'fallback_states_active')).toBe(0);
      expect(sampleValue(families, 'circuit_breaker_store_mode', { mode: 'redis' })).toBe(1);
      expect(
        sampleValue(families, 'circuit_breaker_reconciled_circuits_total', { result: 'merged' }),
      ).toBeGreaterThanOrEqual(1);
    } finally {
      metrics.close();
      await a.cleanup();
      await b.cleanup();
    }
  });
});

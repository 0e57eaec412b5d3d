import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  type MetricData,
  MetricReader,
} from '@opentelemetry/sdk-metrics';
import { createCircuitBreaker } from '@xnai/cb-core';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { CircuitBreakerRegistry } from '@xnai/cb-registry';
import { MemoryStateStore } from '@xnai/cb-store-memory';
import { type RedisServer, startRedis, waitFor } from '@xnai/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTRIBUTES, createOpenTelemetryMetrics, INSTRUMENT_NAMES } from './opentelemetry-metrics.js';

/** The in-memory reader: collects on demand what the SDK aggregated. */
class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
  async read(): Promise<Map<string, MetricData>> {
    const { resourceMetrics, errors } = await this.collect();
    expect(errors).toEqual([]);
    const metrics = new Map<string, MetricData>();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) metrics.set(metric.descriptor.name, metric);
    }
    return metrics;
  }
}

function point(metric: MetricData | undefined, attributes: Record<string, string>): unknown {
  const found = metric?.dataPoints.filter((candidate) =>
    Object.entries(attributes).every(([key, value]) => candidate.attributes[key] === value),
  );
  if (found === undefined || found.length === 0) return undefined;
  if (found.length > 1) throw new Error(`${metric?.descriptor.name}: ${found.length} points match`);
  return found[0]?.value;
}

const boom = (): Promise<never> => Promise.reject(new Error('down'));
const FAST = {
  operationTimeoutMs: 100,
  fallbackProbeIntervalMs: 50,
  recoveryThreshold: 2,
  reconnectMaxDelayMs: 100,
  connectionTimeoutMs: 1_000,
};

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis({ controllable: true });
});
afterAll(async () => {
  await server?.stop();
});

function setup(prefix?: string) {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  const metrics = createOpenTelemetryMetrics({
    meter: provider.getMeter('test'),
    ...(prefix === undefined ? {} : { prefix }),
  });
  return { reader, provider, metrics };
}

describe('OpenTelemetry metrics through an in-memory reader', () => {
  it('names instruments by OpenTelemetry conventions: dotted, durations in seconds (unit s)', async () => {
    const { reader, provider, metrics } = setup();
    const breaker = createCircuitBreaker({
      name: 'local',
      store: new MemoryStateStore(),
      failureThreshold: 1,
    });
    metrics.bindBreaker(breaker);
    await breaker.execute(() => 'ok');
    await breaker.execute(boom).catch(() => undefined);
    await breaker.execute(() => 'never').catch(() => undefined);
    const read = await reader.read();
    const duration = read.get(INSTRUMENT_NAMES.callDuration);
    expect(duration?.descriptor.unit).toBe('s');
    expect(duration?.dataPointType).toBe(DataPointType.HISTOGRAM);
    const success = point(duration, { [ATTRIBUTES.name]: 'local', [ATTRIBUTES.outcome]: 'success' }) as {
      count: number;
      sum: number;
      buckets: { boundaries: number[] };
    };
    expect(success.count).toBe(1);
    // Seconds: a call that returns at once is far below one second.
    expect(success.sum).toBeLessThan(0.5);
    expect(success.buckets.boundaries[0]).toBe(0.001);
    const calls = read.get(INSTRUMENT_NAMES.calls);
    expect(calls?.descriptor.unit).toBe('{call}');
    expect(point(calls, { [ATTRIBUTES.name]: 'local', [ATTRIBUTES.outcome]: 'failure' })).toBe(1);
    expect(
      point(calls, {
        [ATTRIBUTES.name]: 'local',
        [ATTRIBUTES.outcome]: 'rejected',
        [ATTRIBUTES.rejectionReason]: 'open',
      }),
    ).toBe(1);
    const state = read.get(INSTRUMENT_NAMES.state);
    expect(point(state, { [ATTRIBUTES.name]: 'local', [ATTRIBUTES.state]: 'open' })).toBe(1);
    expect(point(state, { [ATTRIBUTES.name]: 'local', [ATTRIBUTES.state]: 'closed' })).toBe(0);
    expect(
      point(read.get(INSTRUMENT_NAMES.transitions), {
        [ATTRIBUTES.name]: 'local',
        [ATTRIBUTES.from]: 'closed',
        [ATTRIBUTES.to]: 'open',
        [ATTRIBUTES.reason]: 'failure_threshold',
      }),
    ).toBe(1);
    for (const name of read.keys()) expect(name).toMatch(/^circuit_breaker\.[a-z_.]+$/);
    metrics.close();
    metrics.close();
    // Closed: the breaker's calls are no longer counted, and binding again is refused.
    await breaker.forceClosed();
    await breaker.execute(() => 'ok');
    const after = await reader.read();
    expect(
      point(after.get(INSTRUMENT_NAMES.calls), {
        [ATTRIBUTES.name]: 'local',
        [ATTRIBUTES.outcome]: 'success',
      }),
    ).not.toBe(2);
    expect(
      point(after.get(INSTRUMENT_NAMES.state), {
        [ATTRIBUTES.name]: 'local',
        [ATTRIBUTES.state]: 'forced_closed',
      }),
    ).not.toBe(1);
    expect(() => metrics.bindBreaker(breaker)).toThrow('these OpenTelemetryMetrics were closed');
    await provider.shutdown();
  });

  it('puts the prefix before every instrument and validates its options', async () => {
    const { reader, provider, metrics } = setup('shop.');
    const breaker = createCircuitBreaker({ name: 'p', store: new MemoryStateStore() });
    metrics.bindBreaker(breaker);
    await breaker.execute(() => 'ok');
    const names = [...(await reader.read()).keys()];
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(name.startsWith('shop.circuit_breaker.')).toBe(true);
    expect(() => createOpenTelemetryMetrics({} as never)).toThrow('meter must be an OpenTelemetry Meter');
    expect(() =>
      createOpenTelemetryMetrics({ meter: provider.getMeter('x'), durationBoundaries: [0.5, 0.1] }),
    ).toThrow(RangeError);
    metrics.close();
    await provider.shutdown();
  });

  it("reports a registry's calls, trips and the fleet's metrics through a Redis outage", async () => {
    const { reader, provider, metrics } = setup();
    const keyPrefix = `otel${Date.now()}:`;
    const connect = async () => {
      const manager = new RedisConnectionManager({ url: server.url, ...FAST });
      await manager.connect();
      return new CircuitBreakerRegistry({ redis: manager, keyPrefix });
    };
    const a = await connect();
    const b = await connect();
    try {
      metrics.bindRegistry(a);
      a.registerCircuitBreaker('payments', { failureThreshold: 2 });
      a.registerCircuitBreaker('shipping');
      a.registerCircuitBreaker('outage', { failureThreshold: 10 });
      b.registerCircuitBreaker('shipping', { failureThreshold: 1 });
      await a.callWithCircuitBreaker('payments', () => 'ok');
      for (let i = 0; i < 2; i++) await a.callWithCircuitBreaker('payments', boom).catch(() => undefined);
      await b.callWithCircuitBreaker('shipping', boom).catch(() => undefined);
      await waitFor(() => a.get('shipping')?.status === 'open', { timeoutMs: 3_000 });
      let read = await reader.read();
      const state = read.get(INSTRUMENT_NAMES.state);
      expect(point(state, { [ATTRIBUTES.name]: 'payments', [ATTRIBUTES.state]: 'open' })).toBe(1);
      expect(point(state, { [ATTRIBUTES.name]: 'shipping', [ATTRIBUTES.state]: 'open' })).toBe(1);
      expect(
        point(read.get(INSTRUMENT_NAMES.calls), {
          [ATTRIBUTES.name]: 'payments',
          [ATTRIBUTES.outcome]: 'success',
        }),
      ).toBe(1);
      const propagation = point(read.get(INSTRUMENT_NAMES.propagationDelay), {}) as { count: number };
      expect(propagation.count).toBeGreaterThanOrEqual(1);
      expect(read.get(INSTRUMENT_NAMES.propagationDelay)?.descriptor.unit).toBe('s');
      expect(point(read.get(INSTRUMENT_NAMES.redisConnected), {})).toBe(1);
      expect(point(read.get(INSTRUMENT_NAMES.storeMode), { [ATTRIBUTES.storeMode]: 'redis' })).toBe(1);
      const recordRedis = point(read.get(INSTRUMENT_NAMES.storeOperationDuration), {
        [ATTRIBUTES.operation]: 'record',
        [ATTRIBUTES.servedBy]: 'redis',
      }) as { count: number };
      expect(recordRedis.count).toBeGreaterThanOrEqual(2);

      await server.kill();
      await waitFor(() => a.redis?.fallbackMode === true, { timeoutMs: 5_000 });
      await a.callWithCircuitBreaker('outage', boom).catch(() => undefined);
      await a.get('outage')?.flush();
      read = await reader.read();
      expect(point(read.get(INSTRUMENT_NAMES.redisConnected), {})).toBe(0);
      expect(point(read.get(INSTRUMENT_NAMES.storeMode), { [ATTRIBUTES.storeMode]: 'memory' })).toBe(1);
      expect(point(read.get(INSTRUMENT_NAMES.fallbackStatesActive), {})).toBe(1);
      expect(
        point(read.get(INSTRUMENT_NAMES.statePersistenceFailures), {
          [ATTRIBUTES.name]: 'outage',
          [ATTRIBUTES.operation]: 'record',
        }),
      ).toBe(1);

      await server.restart();
      // The reconciled event ends a run, after the circuits settled: wait for it, not for the gauge.
      await waitFor(
        async () => {
          const metrics = await reader.read();
          const runs = metrics
            .get(INSTRUMENT_NAMES.reconciliations)
            ?.dataPoints.filter((entry) => entry.attributes[ATTRIBUTES.result] === 'success');
          const merged = point(metrics.get(INSTRUMENT_NAMES.reconciledCircuits), {
            [ATTRIBUTES.result]: 'merged',
          });
          return (runs?.length ?? 0) >= 1 && typeof merged === 'number' && merged >= 1;
        },
        { timeoutMs: 10_000 },
      );
      read = await reader.read();
      expect(point(read.get(INSTRUMENT_NAMES.fallbackStatesActive), {})).toBe(0);
    } finally {
      metrics.close();
      await a.cleanup();
      await b.cleanup();
      await provider.shutdown();
    }
  });
});

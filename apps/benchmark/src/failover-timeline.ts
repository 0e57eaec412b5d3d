import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { CircuitBreakerRegistry } from '@xnai/cb-registry';
import { startRedis } from '@xnai/test-utils';
import type { BenchContext } from './context.js';
import { sleep } from './harness.js';
import { LatencyHistogram } from './latency-histogram.js';
import { type MeasurementResult, row } from './report.js';

const MEASUREMENT = '12 failover timeline';
const BUCKET_MS = 100;
const TICK_MS = 5;
const CIRCUITS = 100;
/** The manager's default operation timeout: no call may wait longer. */
const OPERATION_TIMEOUT_MS = 250;

/** One 100 ms sample of the timeline. */
export interface TimelineSample {
  /** ms since the load started. */
  readonly atMs: number;
  /** Calls that settled in this bucket, per second. */
  readonly callsPerSecond: number;
  /** Of the calls that settled in it; NaN when none did. */
  readonly p99Ms: number;
  readonly maxMs: number;
  /** The connection manager's mode at the end of the bucket. */
  readonly mode: string;
  readonly fallbackMode: boolean;
}

interface Settings {
  readonly callsPerSecond: number;
  readonly beforeMs: number;
  readonly downMs: number;
  readonly afterMs: number;
  /** After `afterMs`, the timeline goes on until the manager is connected and reconciled, at most this long. */
  readonly afterLimitMs: number;
}

const epochNow = (): number => performance.timeOrigin + performance.now();

/**
 * One instance (a registry with its own connection manager, 100 circuits plus a flaky one whose
 * failures are written to the store and one held open) under a steady call rate while its Redis is
 * killed for 5 s and started again on the same port. Every 100 ms: calls settled, their p99, and
 * the manager's mode.
 */
export async function measureFailoverTimeline(context: BenchContext): Promise<MeasurementResult> {
  const settings: Settings = context.quick
    ? { callsPerSecond: 2_000, beforeMs: 400, downMs: 500, afterMs: 800, afterLimitMs: 10_000 }
    : { callsPerSecond: 5_000, beforeMs: 2_000, downMs: 5_000, afterMs: 3_000, afterLimitMs: 20_000 };
  const progress = context.progress;
  progress.step('starting a Redis of its own');
  const server = await startRedis({ controllable: true });
  const manager = new RedisConnectionManager({ url: server.url });
  const registry = new CircuitBreakerRegistry({
    redis: manager,
    keyPrefix: `${context.keyPrefix}failover:`,
  });
  const events: Array<{ type: string; at: number; trigger?: string; failed?: number }> = [];
  const subscription = registry.onEvent((event) => {
    if (event.type === 'fallback_entered' || event.type === 'recovered') {
      events.push({ type: event.type, at: epochNow() });
    } else if (event.type === 'reconciled') {
      events.push({ type: event.type, at: epochNow(), trigger: event.trigger, failed: event.failed });
    }
  });
  const names = Array.from({ length: CIRCUITS }, (_, index) => `c${String(index).padStart(3, '0')}`);
  const ok = async (): Promise<number> => 1;
  const failing = async (): Promise<never> => {
    throw new Error('flaky');
  };
  const samples: TimelineSample[] = [];
  let running = true;
  try {
    if (!(await manager.connect())) throw new Error('failover: Redis not reachable');
    for (const name of names) registry.registerCircuitBreaker(name);
    // Fails every other call without ever tripping: each failure is a write to the store.
    registry.registerCircuitBreaker('flaky', { failureThreshold: 1_000_000 });
    // Open for the whole run: its calls are rejected locally, before, during and after the outage.
    registry.registerCircuitBreaker('held-open', {
      failureThreshold: 1,
      openTimeoutMs: 600_000,
      maxOpenTimeoutMs: 600_000,
    });
    await registry.callWithCircuitBreaker('held-open', failing).catch(() => undefined);
    await sleep(200);

    let bucket = new LatencyHistogram();
    let settled = 0;
    let rejected = 0;
    let calls = 0;
    let cursor = 0;
    const record = (started: number) => {
      bucket.record(performance.now() - started);
      settled += 1;
    };
    const call = () => {
      calls += 1;
      cursor += 1;
      const started = performance.now();
      const name =
        cursor % 10 === 0 ? 'flaky' : cursor % 50 === 1 ? 'held-open' : (names[cursor % CIRCUITS] as string);
      const fn = name === 'flaky' && cursor % 20 === 0 ? failing : ok;
      registry.callWithCircuitBreaker(name, fn).then(
        () => record(started),
        (error: unknown) => {
          record(started);
          if (!(error instanceof Error && error.message === 'flaky')) rejected += 1;
        },
      );
    };
    const startedAt = performance.now();
    // Open loop: calls are issued at the rate whatever happens to the ones before.
    const load = (async () => {
      let credit = 0;
      let last = performance.now();
      while (running) {
        const now = performance.now();
        credit += (settings.callsPerSecond * (now - last)) / 1_000;
        last = now;
        while (credit >= 1) {
          credit -= 1;
          call();
        }
        await sleep(TICK_MS);
      }
    })();
    const sampler = (async () => {
      let next = startedAt + BUCKET_MS;
      while (running) {
        await sleep(Math.max(0, next - performance.now()));
        const summary = bucket.summary();
        samples.push({
          atMs: next - startedAt,
          callsPerSecond: (settled * 1_000) / BUCKET_MS,
          p99Ms: summary.p99Ms,
          maxMs: summary.maxMs,
          mode: manager.mode,
          fallbackMode: manager.fallbackMode,
        });
        bucket = new LatencyHistogram();
        settled = 0;
        next += BUCKET_MS;
      }
    })();
    progress.step(`steady load, ${settings.callsPerSecond.toLocaleString('en-US')} calls/s`);
    await sleep(settings.beforeMs);
    progress.step(`Redis killed for ${settings.downMs / 1_000} s`);
    const killedAt = epochNow();
    const killedAtMs = performance.now() - startedAt;
    await server.kill();
    await sleep(settings.downMs);
    progress.step('Redis restarted');
    const restartedAt = epochNow();
    const restartedAtMs = performance.now() - startedAt;
    await server.restart();
    await sleep(settings.afterMs);
    const settledAfterRestart = () => {
      const reconciledAt = events
        .filter((event) => event.type === 'reconciled' && event.at >= restartedAt && event.failed === 0)
        .map((event) => event.at);
      return (
        manager.mode === 'connected' &&
        reconciledAt.length > 0 &&
        epochNow() - Math.max(...reconciledAt) >= 500
      );
    };
    while (!settledAfterRestart() && epochNow() - restartedAt < settings.afterMs + settings.afterLimitMs) {
      await sleep(BUCKET_MS);
    }
    const stoppedAtMs = performance.now() - startedAt;
    running = false;
    await load;
    await sampler;
    // The bucket the load stopped in is partial: the timeline ends before it.
    while ((samples.at(-1)?.atMs ?? 0) > stoppedAtMs) samples.pop();
    // Let the last calls settle before the registry is cleaned up.
    await sleep(50);

    const within = (from: number, to: number) => samples.filter((s) => s.atMs > from && s.atMs <= to);
    const steady = within(0, killedAtMs);
    const outage = within(killedAtMs, restartedAtMs);
    const mean = (values: readonly number[]) =>
      values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length;
    const steadyRate = mean(steady.map((s) => s.callsPerSecond));
    const outageRate = mean(outage.map((s) => s.callsPerSecond));
    const outageP99 = Math.max(...outage.map((s) => (Number.isNaN(s.p99Ms) ? 0 : s.p99Ms)));
    const outageMax = Math.max(...outage.map((s) => (Number.isNaN(s.maxMs) ? 0 : s.maxMs)));
    const fallbackAt = events.find((event) => event.type === 'fallback_entered' && event.at >= killedAt);
    const recoveredAt = events.find((event) => event.type === 'recovered' && event.at >= restartedAt);
    const reconciled = events.filter(
      (event) => event.type === 'reconciled' && event.at >= restartedAt && event.failed === 0,
    );
    const fallbackMs = fallbackAt === undefined ? Number.NaN : fallbackAt.at - killedAt;
    const recoveredMs = recoveredAt === undefined ? Number.NaN : recoveredAt.at - restartedAt;
    const reconciledMs =
      reconciled.length === 0 ? Number.NaN : Math.max(...reconciled.map((event) => event.at)) - restartedAt;
    return {
      rows: [
        row({
          id: 'failover.fallback',
          measurement: MEASUREMENT,
          subject: 'Redis killed: until the manager is in fallback mode',
          value: fallbackMs,
          unit: 'ms',
          target: `<= ${OPERATION_TIMEOUT_MS} ms`,
          met: fallbackMs <= OPERATION_TIMEOUT_MS,
        }),
        row({
          id: 'failover.throughput',
          measurement: MEASUREMENT,
          subject: 'Redis down: calls settled per second',
          value: outageRate,
          unit: 'calls/s',
          ratio: outageRate / steadyRate,
          ratioOf: 'before the kill',
        }),
        row({
          id: 'failover.p99',
          measurement: MEASUREMENT,
          subject: 'Redis down: worst 100 ms p99 of call latency',
          value: outageP99,
          unit: 'ms',
        }),
        row({
          id: 'failover.max',
          measurement: MEASUREMENT,
          subject: 'Redis down: longest call',
          value: outageMax,
          unit: 'ms',
          target: `<= ${OPERATION_TIMEOUT_MS} ms`,
          met: outageMax <= OPERATION_TIMEOUT_MS,
        }),
        row({
          id: 'failover.recovered',
          measurement: MEASUREMENT,
          subject: 'Redis back: until the manager left fallback mode',
          value: recoveredMs,
          unit: 'ms',
        }),
        row({
          id: 'failover.reconciled',
          measurement: MEASUREMENT,
          subject: 'Redis back: until the last reconciliation completed',
          value: reconciledMs,
          unit: 'ms',
          target: '<= 2000 ms',
          met: reconciledMs <= 2_000,
        }),
      ],
      raw: {
        settings,
        bucketMs: BUCKET_MS,
        killedAtMs,
        restartedAtMs,
        calls,
        rejected,
        steadyCallsPerSecond: steadyRate,
        samples,
        events: events.map((event) => ({ ...event, atMs: event.at - (killedAt - killedAtMs) })),
      },
      notes: [
        `failover: one registry instance (its own connection manager, defaults), ${CIRCUITS} closed circuits, one failing every other call (failures written to the store) and one held open; ${settings.callsPerSecond.toLocaleString('en-US')} calls/s issued open-loop every ${TICK_MS} ms whatever became of earlier ones; Redis SIGKILLed for ${settings.downMs / 1_000} s, then started on the same port (empty: no persistence).`,
      ],
    };
  } finally {
    running = false;
    subscription.dispose();
    await registry.cleanup();
    await server.stop();
  }
}

import { type CircuitPolicyOptions, createCircuitBreaker } from '@xnai/cb-core';
import { RedisStateStore } from '@xnai/cb-store-redis';
import type { Redis } from 'ioredis';
import type { BenchContext } from './context.js';
import { median } from './harness.js';
import { type MeasurementResult, type Row, row } from './report.js';

const MEASUREMENT = '7 one sliding-window flush';
/** Calls per second a breaker makes; its outcomes of one second (recordIntervalMs) are one flush. */
const RATES = [10_000, 100_000, 1_000_000] as const;
const TARGET_US = 1_000;

const WINDOWS: ReadonlyArray<{
  readonly key: string;
  readonly label: string;
  readonly options: CircuitPolicyOptions;
}> = [
  {
    key: 'count-10000',
    label: 'count window 10,000',
    options: { slidingWindow: { type: 'count', size: 10_000 } },
  },
  {
    key: 'time-60s',
    label: 'time window 60 s',
    options: { slidingWindow: { type: 'time', durationMs: 60_000 } },
  },
];

/** Microseconds and calls Redis has spent in EVAL/EVALSHA so far (INFO commandstats). */
async function scriptServerTime(client: Redis): Promise<{ calls: number; usec: number }> {
  const info = await client.info('commandstats');
  let calls = 0;
  let usec = 0;
  for (const match of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+),usec=(\d+)/g)) {
    calls += Number(match[1]);
    usec += Number(match[2]);
  }
  return { calls, usec };
}

/**
 * The Redis time of one flush of a sliding-window breaker making `rate` calls per second: the
 * calls run through `breaker.execute()` (every tenth fails, under the trip threshold), and one
 * `flush()` sends that second's outcomes. Redis's own accounting tells how long the script ran.
 */
export async function measureFlushCost(context: BenchContext): Promise<MeasurementResult> {
  const client = context.createClient();
  const admin = context.createClient();
  const store = new RedisStateStore({
    redis: client,
    keyPrefix: `${context.keyPrefix}flush:`,
    operationTimeoutMs: 30_000,
  });
  const repeats = context.quick ? 1 : 5;
  const rows: Row[] = [];
  const raw: Record<string, unknown> = { repeats };
  const fail = (): never => {
    throw new Error('boom');
  };
  try {
    for (const window of WINDOWS) {
      const breaker = createCircuitBreaker({
        name: `flush-${window.key}`,
        store,
        failureThreshold: 1_000_000,
        failureRateThreshold: 0.5,
        minimumCalls: 100,
        recordIntervalMs: 3_600_000,
        ...window.options,
      });
      // Loads the view and the script, so no measured flush pays for either.
      await breaker.execute(() => 'warm');
      await breaker.flush();
      for (const rate of RATES) {
        const samples: number[] = [];
        for (let repeat = 0; repeat < repeats; repeat += 1) {
          const calls: Promise<unknown>[] = [];
          for (let index = 0; index < rate; index += 1) {
            calls.push(breaker.execute(index % 10 === 9 ? fail : () => index).catch(() => undefined));
          }
          await Promise.all(calls);
          const before = await scriptServerTime(admin);
          await breaker.flush();
          const after = await scriptServerTime(admin);
          if (after.calls - before.calls !== 1) {
            throw new Error(
              `flush ${window.key} at ${rate}/s sent ${after.calls - before.calls} scripts, not 1`,
            );
          }
          samples.push(after.usec - before.usec);
        }
        const value = median(samples);
        raw[`${window.key}-${rate}`] = samples;
        const atTargetRate = rate === 1_000_000;
        rows.push(
          row({
            id: `flush.${window.key}.${rate}`,
            measurement: MEASUREMENT,
            subject: `${window.label}, ${rate.toLocaleString('en-US')} calls/s: Redis time per flush`,
            value,
            unit: 'µs',
            ...(atTargetRate ? { target: `<= ${TARGET_US} µs`, met: value <= TARGET_US } : {}),
          }),
        );
      }
      await breaker.close();
    }
  } finally {
    await store.close();
  }
  return {
    rows,
    raw,
    notes: [
      `flush: a breaker with a sliding window makes N calls through execute() (every tenth fails), then one flush() sends them as one reduced batch; Redis time is the INFO commandstats usec of that one script (median of ${repeats}).`,
    ],
  };
}

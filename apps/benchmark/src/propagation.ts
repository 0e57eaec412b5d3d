import { createCircuitBreaker } from '@xnai/cb-core';
import { RedisStateStore } from '@xnai/cb-store-redis';
import type { BenchContext } from './context.js';
import { noop, percentile, waitUntil } from './harness.js';
import { type MeasurementResult, row } from './report.js';

const MEASUREMENT = '6 propagation of OPEN';
const SEEN_TIMEOUT_MS = 1_000;

/**
 * A breaker on store A (own ioredis connection) trips; how long until a breaker on store B (own
 * connection) sees OPEN. Both live in this process: the figure includes Redis Pub/Sub and both
 * stores' code, not a second process's scheduling.
 */
export async function measurePropagation(context: BenchContext): Promise<MeasurementResult> {
  const trials = context.quick ? 20 : 300;
  const prefix = `${context.keyPrefix}propagation:`;
  const storeA = new RedisStateStore({ redis: context.createClient(), keyPrefix: prefix });
  const storeB = new RedisStateStore({ redis: context.createClient(), keyPrefix: prefix });
  const policy = {
    name: 'propagation',
    failureThreshold: 1,
    openTimeoutMs: 600_000,
    maxOpenTimeoutMs: 600_000,
  };
  const tripping = createCircuitBreaker({ ...policy, store: storeA });
  const watching = createCircuitBreaker({ ...policy, store: storeB });
  const failing = async (): Promise<never> => {
    throw new Error('down');
  };
  const samplesMs: number[] = [];
  let missed = 0;
  try {
    await tripping.refresh();
    await watching.refresh();
    await storeA.whenSubscribed();
    await storeB.whenSubscribed();
    for (let trial = 0; trial < trials; trial += 1) {
      await tripping.reset();
      await waitUntil(() => watching.status === 'closed', SEEN_TIMEOUT_MS, 'the reset to propagate');
      let seenAt = Number.NaN;
      const seen = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), SEEN_TIMEOUT_MS);
        const subscription = watching.onStateChange((event) => {
          if (event.to !== 'open') return;
          seenAt = performance.now();
          clearTimeout(timer);
          subscription.dispose();
          resolve(true);
        });
      });
      const started = performance.now();
      await tripping.execute(failing).catch(noop);
      if (await seen) samplesMs.push(seenAt - started);
      else missed += 1;
    }
    const p50 = percentile(samplesMs, 50);
    const p99 = percentile(samplesMs, 99);
    const max = Math.max(...samplesMs);
    const allSeen = missed === 0;
    return {
      rows: [
        row({
          id: 'propagation.p50',
          measurement: MEASUREMENT,
          subject: `p50 of ${trials}`,
          value: p50,
          unit: 'ms',
        }),
        row({
          id: 'propagation.p99',
          measurement: MEASUREMENT,
          subject: `p99 of ${trials}`,
          value: p99,
          unit: 'ms',
          target: '<= 20 ms',
          met: allSeen && p99 <= 20,
        }),
        row({
          id: 'propagation.max',
          measurement: MEASUREMENT,
          subject: `max of ${trials}`,
          value: max,
          unit: 'ms',
        }),
      ],
      raw: { trials, missed, samplesMs },
      notes: [
        `propagation: one process, two RedisStateStores each on its own ioredis connection (plus its own subscriber connection); from the tripping call to the other breaker's onStateChange(open). Missed within ${SEEN_TIMEOUT_MS} ms: ${missed}.`,
      ],
    };
  } finally {
    await tripping.close();
    await watching.close();
    await storeA.close();
    await storeB.close();
  }
}

import { createCircuitBreaker } from '@xnai/cb-core';
import { MemoryStateStore } from '@xnai/cb-store-memory';
import { RedisStateStore } from '@xnai/cb-store-redis';
import type { BenchContext } from './context.js';
import { compare, figureOf } from './harness.js';
import { type MeasurementResult, row } from './report.js';

const MEASUREMENT = '2 closed path, Redis store';

/** ns per call on a closed circuit: our breaker on a RedisStateStore vs on a MemoryStateStore. */
export async function measureClosedRedis(context: BenchContext): Promise<MeasurementResult> {
  const fn = async (): Promise<number> => 42;
  const client = context.createClient();
  const redisStore = new RedisStateStore({ redis: client, keyPrefix: `${context.keyPrefix}closed:` });
  const memoryStore = new MemoryStateStore();
  const onRedis = createCircuitBreaker({ name: 'bench-closed-redis', store: redisStore });
  const onMemory = createCircuitBreaker({ name: 'bench-closed-redis', store: memoryStore });
  try {
    await onRedis.execute(fn);
    await onMemory.execute(fn);
    await redisStore.whenSubscribed();
    const options = context.quick
      ? { iterations: 5_000, rounds: 3, warmupIterations: 5_000 }
      : { iterations: 200_000, rounds: 9, warmupIterations: 100_000 };
    const figures = await compare(
      [
        { subject: 'ours, MemoryStateStore', task: () => onMemory.execute(fn) },
        { subject: 'ours, RedisStateStore', task: () => onRedis.execute(fn) },
      ],
      options,
    );
    const memory = figureOf(figures, 'ours, MemoryStateStore').medianNsPerOp;
    const redis = figureOf(figures, 'ours, RedisStateStore').medianNsPerOp;
    const ratio = redis / memory;
    return {
      rows: [
        row({
          id: 'closed-redis.memory',
          measurement: MEASUREMENT,
          subject: 'ours, MemoryStateStore',
          value: memory,
          unit: 'ns/op',
          ratio: 1,
          ratioOf: 'memory store',
        }),
        row({
          id: 'closed-redis.redis',
          measurement: MEASUREMENT,
          subject: 'ours, RedisStateStore',
          value: redis,
          unit: 'ns/op',
          ratio,
          ratioOf: 'memory store',
          target: '<= 1.50x',
          met: ratio <= 1.5,
        }),
      ],
      raw: { options, figures },
      notes: [],
    };
  } finally {
    await onRedis.close();
    await onMemory.close();
    await redisStore.close();
    await memoryStore.close();
  }
}

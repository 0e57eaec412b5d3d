import { CircuitBreaker } from '@xnai/cb-core';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { commandCounts, commandsSent, type RedisServer, readsMade, startRedis } from '@xnai/test-utils';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStateStore } from './redis-state-store.js';

let server: RedisServer;
let admin: Redis;

beforeAll(async () => {
  server = await startRedis();
  admin = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
});

afterAll(async () => {
  admin?.disconnect();
  await server?.stop();
});

const CIRCUITS = 1_000;
const REST_MS = 6_000;

/**
 * One instance, 1,000 closed circuits each called every 50 ms for six seconds: how many commands
 * reach Redis. With the store checking its subscriber (the default) there is no per-circuit re-read;
 * without the check, every breaker re-reads its circuit every `refreshIntervalMs` (5 s).
 */
async function atRest(
  subscriberCheckIntervalMs: number | null,
  options: { windowed?: boolean; everyMs?: number; budget?: number | null } = {},
): Promise<Record<string, number>> {
  const manager = new RedisConnectionManager({ url: server.url });
  await manager.connect();
  const store = new RedisStateStore({
    redis: manager,
    keyPrefix: `rest:${subscriberCheckIntervalMs}:${Date.now()}:`,
    subscriberCheckIntervalMs,
    ...(options.budget === undefined ? {} : { deferredWritesPerSecond: options.budget }),
  });
  const breakers = Array.from(
    { length: CIRCUITS },
    (_, index) =>
      new CircuitBreaker({
        name: `circuit-${index}`,
        store,
        ...(options.windowed === true ? { slidingWindow: { type: 'count' as const, size: 100 } } : {}),
      }),
  );
  try {
    await Promise.all(breakers.map((breaker) => breaker.execute(() => 'warm')));
    await store.whenSubscribed();
    await admin.config('RESETSTAT');
    const until = performance.now() + REST_MS;
    while (performance.now() < until) {
      for (const breaker of breakers) await breaker.execute(() => 'ok');
      await new Promise((resolve) => setTimeout(resolve, options.everyMs ?? 50));
    }
    return await commandCounts(admin);
  } finally {
    for (const breaker of breakers) await breaker.close();
    await store.close();
    await manager.disconnect();
  }
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, n) => sum + n, 0);

describe('Redis commands of one instance at rest', () => {
  it('do not grow with the number of circuits: the store checks its subscriber instead of every breaker re-reading', async () => {
    const verified = await atRest(5_000);
    const rereading = await atRest(null);
    const seconds = REST_MS / 1_000;
    console.log(
      `[figures] at rest, ${CIRCUITS} closed circuits called every 50 ms for ${seconds} s: ${total(verified)} commands (${(total(verified) / seconds).toFixed(2)}/s: ${JSON.stringify(verified)}) with the subscriber check; ${total(rereading)} (${(total(rereading) / seconds).toFixed(0)}/s) with a per-circuit re-read every 5 s`,
    );
    // DESIGN §8: at most 2 commands per second per instance with 1,000 active circuits.
    expect(total(verified)).toBeLessThanOrEqual(2 * seconds);
    expect(readsMade(verified)).toBe(0);
    expect(verified.ping ?? 0).toBeGreaterThanOrEqual(1);
    // The old way: one read per circuit per refresh interval.
    expect(readsMade(rereading)).toBeGreaterThanOrEqual(CIRCUITS);
  }, 60_000);

  it('stay within the write budget with a sliding window on every circuit, each called 10 times a second', async () => {
    const budgeted = await atRest(5_000, { windowed: true, everyMs: 100 });
    const unbudgeted = await atRest(5_000, { windowed: true, everyMs: 100, budget: null });
    const seconds = REST_MS / 1_000;
    console.log(
      `[figures] at rest, ${CIRCUITS} closed circuits with a count window of 100, each called every 100 ms for ${seconds} s: ${commandsSent(budgeted)} commands sent (${(commandsSent(budgeted) / seconds).toFixed(1)}/s) with the default budget of 40 window writes per second; ${commandsSent(unbudgeted)} (${(commandsSent(unbudgeted) / seconds).toFixed(0)}/s) without a budget`,
    );
    // DESIGN §8: at most 50 commands per second per instance with sliding windows on 1,000 circuits.
    expect(commandsSent(budgeted)).toBeLessThanOrEqual(50 * seconds);
    // Without the budget: one batch per circuit per recordIntervalMs (1 s).
    expect(commandsSent(unbudgeted)).toBeGreaterThanOrEqual(CIRCUITS * (seconds - 2));
  }, 60_000);
});

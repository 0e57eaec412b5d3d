import { delay, type RedisServer, startRedis, waitFor } from '@xnai/test-utils';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FallbackEnteredEvent, RecoveredEvent } from './events.js';
import { RedisConnectionManager } from './redis-connection-manager.js';

const PAUSE_MS = 3_000;

describe('the health probe tests the write path', () => {
  let redis: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    redis = await startRedis({ controllable: true });
    admin = new Redis(redis.url, { lazyConnect: true });
    await admin.connect();
  });
  afterAll(async () => {
    admin?.disconnect();
    await redis?.stop();
  });

  it('CLIENT PAUSE WRITE for 3 s under a writer load: fallback at most once, one recovery after the pause', async () => {
    await using manager = new RedisConnectionManager({ url: redis.url });
    const entered: FallbackEnteredEvent[] = [];
    const recovered: RecoveredEvent[] = [];
    manager.onFallbackEntered((event) => entered.push(event));
    manager.onRecovered((event) => recovered.push(event));
    await manager.connect();
    // A burst first: the pool grows, so connections without a blocked write exist during the pause
    // (a PING on one of them passes, although every write fails).
    for (let round = 0; round < 10; round += 1) {
      await Promise.all(Array.from({ length: 16 }, () => manager.execute((client) => client.incr('burst'))));
    }
    const { poolSize } = await manager.getHealthStatus();
    expect(poolSize).toBeGreaterThan(2);
    let running = true;
    let writes = 0;
    const writers = Array.from({ length: 2 }, async () => {
      while (running) {
        await manager
          .execute((client) => client.incr('paused-writes'))
          .then(
            () => {
              writes += 1;
            },
            () => undefined,
          );
        await delay(5);
      }
    });
    await waitFor(() => writes > 50);
    // Reads (and PING) still pass; every write blocks until the pause ends.
    await admin.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'WRITE');
    const pauseEndsAt = performance.timeOrigin + performance.now() + PAUSE_MS;
    await delay(PAUSE_MS);
    await waitFor(() => recovered.length > 0 && manager.isConnected, { timeoutMs: 3_000 });
    await delay(500); // a recovery followed by a relapse would show here
    running = false;
    await Promise.all(writers);
    console.info(
      `[figures] CLIENT PAUSE ${PAUSE_MS} WRITE: fallback entries=${entered.length} recoveries=${recovered.length}, recovered ${((recovered[0]?.at ?? 0) - pauseEndsAt).toFixed(0)} ms after the pause ended`,
    );
    expect(entered.length).toBe(1);
    expect(entered[0]?.reason).toBe('timeout');
    expect(recovered.length).toBe(1);
    // Not before the pause ended (a little slack: the server's clock and ours start the pause apart).
    expect(recovered[0]?.at ?? 0).toBeGreaterThanOrEqual(pauseEndsAt - 100);
    expect(manager.isConnected).toBe(true);
  });
});

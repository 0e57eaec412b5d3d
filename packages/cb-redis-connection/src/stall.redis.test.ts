import { delay, type RedisServer, startRedis, waitFor } from '@xnai/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FallbackEnteredEvent } from './events.js';
import { RedisConnectionManager } from './redis-connection-manager.js';

const STALL_MS = 300;
/**
 * Slack for a loaded 2-core machine on top of the documented bound (timer lateness, the test's own
 * polling). The bound itself is one operation timeout plus the stall.
 */
const LOAD_MARGIN_MS = 150;

/** Blocks the event loop, as a long synchronous computation in the application would. */
function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

const managers: RedisConnectionManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((manager) => manager.disconnect()));
});

/** Eight loops of INCR with 2 ms pauses, counting outcomes by error name. */
function startLoad(manager: RedisConnectionManager) {
  const outcomes = new Map<string, number>();
  let running = true;
  const loop = async () => {
    while (running) {
      let outcome = 'ok';
      try {
        await manager.execute((client) => client.incr('stall-load'));
      } catch (error) {
        outcome = (error as Error).name;
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      await delay(2);
    }
  };
  const loops = Array.from({ length: 8 }, loop);
  return {
    outcomes,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('event-loop stalls are not Redis failures', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ controllable: true });
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('10 stalls of 300 ms at random moments under load, Redis healthy: no fallback, no timeout', async () => {
    const manager = new RedisConnectionManager({ url: redis.url });
    managers.push(manager);
    const entered: FallbackEnteredEvent[] = [];
    manager.onFallbackEntered((event) => entered.push(event));
    await manager.connect();
    const load = startLoad(manager);
    await waitFor(() => (load.outcomes.get('ok') ?? 0) > 100);
    const stalled: string[] = [];
    for (let stall = 0; stall < 10; stall += 1) {
      await delay(100 + Math.random() * 300);
      // Stall while handling a reply (the poll phase of the event loop): when the loop goes on,
      // expired timers run before sockets are read again, which is when a late timer looks like a
      // timeout. (A stall in a timer callback would be harmless: the loop reads sockets first.)
      await manager.execute((client) => client.ping()).catch(() => undefined);
      if (stall % 2 === 0) {
        // Right after a command is sent: its reply arrives while the loop is blocked.
        const outcome = await manager
          .execute((client) => {
            const reply = client.incr('stall-load');
            busyWait(STALL_MS);
            return reply;
          })
          .then(
            () => 'ok',
            (error: Error) => error.name,
          );
        stalled.push(outcome);
      } else {
        // At a random moment of the load, its commands in flight.
        busyWait(STALL_MS);
      }
    }
    await delay(300);
    await load.stop();
    console.info(
      `[figures] 10 stalls of ${STALL_MS} ms: fallback entries=${entered.length}, load outcomes=${JSON.stringify(Object.fromEntries(load.outcomes))}`,
    );
    expect(stalled).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(entered).toEqual([]);
    expect([...load.outcomes.keys()]).toEqual(['ok']);
    expect((await manager.getHealthStatus()).fallbackEntries).toBe(0);
  });

  it('a frozen Redis (SIGSTOP) during a stall is still detected within one operation timeout plus the stall', async () => {
    const manager = new RedisConnectionManager({ url: redis.url });
    managers.push(manager);
    const entered: FallbackEnteredEvent[] = [];
    manager.onFallbackEntered((event) => entered.push(event));
    await manager.connect();
    const load = startLoad(manager);
    await waitFor(() => (load.outcomes.get('ok') ?? 0) > 100);
    const frozenAt = performance.timeOrigin + performance.now();
    await redis.pause();
    try {
      busyWait(STALL_MS);
      await waitFor(() => entered.length > 0, { timeoutMs: 3000 });
    } finally {
      await redis.resume();
    }
    await load.stop();
    const detectionMs = (entered[0]?.at ?? 0) - frozenAt;
    console.info(`[figures] SIGSTOP + ${STALL_MS} ms stall: detection=${detectionMs.toFixed(1)}ms`);
    expect(entered[0]?.reason).toBe('timeout');
    expect(detectionMs).toBeLessThanOrEqual(manager.operationTimeoutMs + STALL_MS + LOAD_MARGIN_MS);
  });
});

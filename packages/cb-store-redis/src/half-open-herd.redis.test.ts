import { CircuitBreaker, CircuitOpenError } from '@xnai/cb-core';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { commandCounts, commandsSent, type RedisServer, startRedis, waitFor } from '@xnai/test-utils';
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

/**
 * Commands the stores sent since the last CONFIG RESETSTAT: scripts, pipelined reads, whichever the
 * store used; the subscriber check's PING (one per store every 5 s) is not a question about the
 * circuit.
 */
async function scriptCalls(): Promise<number> {
  const counts = await commandCounts(admin);
  return commandsSent(counts) - (counts.ping ?? 0);
}

interface Instance {
  readonly manager: RedisConnectionManager;
  readonly store: RedisStateStore;
  readonly breaker: CircuitBreaker;
}

async function instance(keyPrefix: string): Promise<Instance> {
  const manager = new RedisConnectionManager({ url: server.url });
  await manager.connect();
  const store = new RedisStateStore({ redis: manager, keyPrefix });
  const breaker = new CircuitBreaker({
    name: 'hot',
    store,
    failureThreshold: 1,
    openTimeoutMs: 300,
    jitterRatio: 0,
    successThreshold: 2,
    halfOpenMaxCalls: 1,
  });
  await breaker.refresh();
  return { manager, store, breaker };
}

describe('half-open admission across instances', () => {
  it('sends no script for calls refused while another instance holds the only probe, and admits the next probe on the push that frees it', async () => {
    const keyPrefix = `herd:${Date.now()}:`;
    const [a, b, c] = await Promise.all([instance(keyPrefix), instance(keyPrefix), instance(keyPrefix)]);
    const all = [a, b, c];
    try {
      await expect(a.breaker.execute(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
      await a.breaker.flush();
      await waitFor(() => all.every(({ breaker }) => breaker.status === 'open'), { timeoutMs: 2_000 });
      await new Promise((resolve) => setTimeout(resolve, 320));

      let finishProbe: (value: string) => void = () => undefined;
      const probe = a.breaker.execute(() => new Promise<string>((resolve) => (finishProbe = resolve)));
      // The lease A took is pushed: B and C know the only slot is taken without asking.
      await waitFor(
        () =>
          [b, c].every(
            ({ breaker }) => breaker.state === 'half_open' && breaker.stateData.probes.length === 1,
          ),
        { timeoutMs: 2_000 },
      );
      await admin.config('RESETSTAT');
      const refused = await Promise.all(
        [b, c].flatMap(({ breaker }) =>
          Array.from({ length: 1_000 }, () => breaker.execute(() => 'ran').catch((error: unknown) => error)),
        ),
      );
      for (const { breaker } of [b, c]) {
        for (let i = 0; i < 1_000; i++) {
          refused.push(await breaker.execute(() => 'ran').catch((error: unknown) => error));
        }
      }
      const scripts = await scriptCalls();
      expect(refused).toHaveLength(4_000);
      expect(
        refused.every((error) => CircuitOpenError.isInstance(error) && error.reason === 'half_open_full'),
      ).toBe(true);
      expect(scripts).toBe(0);

      // A's probe succeeds and gives its lease back: the push frees the slot, B's next call takes it.
      const released = performance.now();
      finishProbe('probe ok');
      await expect(probe).resolves.toBe('probe ok');
      await waitFor(() => b.breaker.stateData.probes.length === 0, { timeoutMs: 2_000 });
      const freedMs = performance.now() - released;
      await expect(b.breaker.execute(() => 'second probe')).resolves.toBe('second probe');
      await b.breaker.flush();
      await waitFor(() => all.every(({ breaker }) => breaker.status === 'closed'), { timeoutMs: 2_000 });
      console.log(
        `[figures] half-open herd: 4,000 calls on 2 instances while a third held the probe sent ${scripts} scripts (each asked Redis before); the freed slot reached another instance ${freedMs.toFixed(1)} ms after the probe settled`,
      );
    } finally {
      for (const { breaker, store, manager } of all) {
        await breaker.close();
        await store.close();
        await manager.disconnect();
      }
    }
  });
});

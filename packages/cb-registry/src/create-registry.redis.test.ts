import { RedisStateStore } from '@xnai/cb-store-redis';
import { getFreePort, type RedisServer, startRedis } from '@xnai/test-utils';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCircuitBreakerRegistry } from './create-registry.js';

const AT_2001 = Date.UTC(2001, 0, 1);

/** A clock stopped at 2001-01-01 with real (unref'd) timers: any time from elsewhere stands out. */
const clock = {
  now: () => AT_2001,
  setTimeout: (callback: () => void, delayMs: number) => setTimeout(callback, delayMs).unref(),
  clearTimeout: (handle: unknown) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
const boom = (): Promise<never> => Promise.reject(new Error('down'));
const inYear = (at: number | undefined) => (at === undefined ? undefined : new Date(at).getUTCFullYear());

let server: RedisServer;

beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server?.stop();
});

describe('createCircuitBreakerRegistry({ clock })', () => {
  it('hands the clock to the registry, its stores and its breakers: with client time, Redis holds 2001 times', async () => {
    const keyPrefix = 'clock2001:';
    const registry = await createCircuitBreakerRegistry({
      url: server.url,
      clock,
      useClientTime: true,
      keyPrefix,
    });
    const client = new Redis(server.url, { lazyConnect: true });
    await client.connect();
    try {
      expect(registry.stateManager.redisAvailable).toBe(true);
      registry.registerCircuitBreaker('payments');
      const forced = await registry.forceOpen('payments', { reason: 'maintenance' });
      expect(forced.override?.setAt).toBe(AT_2001);
      registry.registerCircuitBreaker('inventory', { failureThreshold: 1 });
      await registry.callWithCircuitBreaker('inventory', boom).catch(() => undefined);
      await registry.get('inventory')?.flush();
      // What Redis holds, read past the registry.
      const reader = new RedisStateStore({ redis: client, keyPrefix, useClientTime: true, clock });
      const payments = await reader.getState('payments');
      expect(payments?.override?.setAt).toBe(AT_2001);
      expect(inYear(payments?.decidedAt)).toBe(2001);
      const inventory = await reader.getState('inventory');
      expect(inventory).toMatchObject({ state: 'open', lastFailureTime: AT_2001, lastStateChange: AT_2001 });
      expect(inventory?.openUntil).toBe(AT_2001 + 60_000);
    } finally {
      await registry.cleanup();
      client.disconnect();
    }
  });

  it('with Redis unreachable, the in-memory fallback’s state carries 2001 times too', async () => {
    const port = await getFreePort();
    const registry = await createCircuitBreakerRegistry({
      url: `redis://127.0.0.1:${port}`,
      clock,
      awaitConnectionMs: 0,
    });
    try {
      expect(registry.stateManager.redisAvailable).toBe(false);
      registry.registerCircuitBreaker('payments');
      const forced = await registry.forceOpen('payments');
      expect(forced.override?.setAt).toBe(AT_2001);
      registry.registerCircuitBreaker('inventory', { failureThreshold: 1 });
      await registry.callWithCircuitBreaker('inventory', boom).catch(() => undefined);
      await registry.get('inventory')?.flush();
      const mirrored = await registry.stateManager.memoryStore.getState('inventory');
      expect(mirrored).toMatchObject({ state: 'open', lastFailureTime: AT_2001, lastStateChange: AT_2001 });
      expect(mirrored?.openUntil).toBe(AT_2001 + 60_000);
      expect((await registry.stateManager.memoryStore.getState('payments'))?.override?.setAt).toBe(AT_2001);
      expect(registry.stateManager.getFallbackStatus().fallbackStates).toEqual(
        expect.arrayContaining(['payments', 'inventory']),
      );
    } finally {
      await registry.cleanup();
    }
  });
});

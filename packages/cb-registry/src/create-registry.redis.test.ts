import { CircuitOpenError, resolvePolicy } from '@xnai/cb-core';
import { RedisStateStore } from '@xnai/cb-store-redis';
import { getFreePort, type RedisServer, startRedis, waitFor } from '@xnai/test-utils';
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

describe('a burst of registrations', () => {
  it('registers 20,000 circuits in one loop: every first read is answered by Redis, once, and open circuits load open', async () => {
    // The loop blocks the event loop for a second or more: a timer that fires after it must not
    // be taken for a slow Redis (before: every first read was served from the empty mirror, and
    // circuits open in Redis loaded closed until a reconciliation of all of them).
    const keyPrefix = `burst:${Date.now()}:`;
    const count = 20_000;
    const names = Array.from({ length: count }, (_, index) => `c${index}`);
    const opened = names.filter((_, index) => index % 400 === 7);
    const client = new Redis(server.url, { lazyConnect: true });
    await client.connect();
    const elsewhere = new RedisStateStore({ redis: client, keyPrefix });
    for (const name of opened) await elsewhere.override(name, { mode: 'forced_open' }, resolvePolicy());
    await elsewhere.close();
    client.disconnect();

    const registry = await createCircuitBreakerRegistry({ url: server.url, keyPrefix });
    const served: Record<string, number> = {};
    registry.stateManager.onOperation((event) => {
      if (event.operation === 'getState') served[event.servedBy] = (served[event.servedBy] ?? 0) + 1;
    });
    const reconciled: string[] = [];
    registry.onEvent((event) => {
      if (event.type === 'reconciled') reconciled.push(event.trigger);
    });
    try {
      const started = performance.now();
      for (const name of names) registry.registerCircuitBreaker(name);
      const loopMs = performance.now() - started;
      await waitFor(() => (served.redis ?? 0) + (served.memory ?? 0) >= count, { timeoutMs: 60_000 });
      const settledMs = performance.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 300));
      console.log(
        `[figures] 20,000 circuits registered in one loop: loop ${loopMs.toFixed(0)} ms, every first read answered ${settledMs.toFixed(0)} ms after the start; reads ${JSON.stringify(served)}`,
      );
      expect(served).toEqual({ redis: count });
      expect(reconciled).toEqual([]);
      expect(opened.map((name) => registry.get(name)?.status)).toEqual(opened.map(() => 'forced_open'));
      expect(registry.get('c0')?.status).toBe('closed');
    } finally {
      await registry.cleanup();
    }
  }, 120_000);

  it('a call on a circuit whose first read waits behind the burst is answered first, by Redis', async () => {
    // Reads are paced (256 in flight): without the call's read sent ahead, the call on the last
    // circuit registered waited for the 19,999 reads queued before it.
    const keyPrefix = `burst-call:${Date.now()}:`;
    const count = 20_000;
    const names = Array.from({ length: count }, (_, index) => `c${index}`);
    const last = names[count - 1] as string;
    const client = new Redis(server.url, { lazyConnect: true });
    await client.connect();
    const elsewhere = new RedisStateStore({ redis: client, keyPrefix });
    await elsewhere.override(last, { mode: 'forced_open' }, resolvePolicy());
    await elsewhere.close();
    client.disconnect();

    const registry = await createCircuitBreakerRegistry({ url: server.url, keyPrefix });
    let answered = 0;
    const servedBy: Record<string, string> = {};
    registry.stateManager.onOperation((event) => {
      if (event.operation !== 'getState') return;
      answered += 1;
      if (event.name === last) servedBy[last] = event.servedBy;
    });
    try {
      for (const name of names) registry.registerCircuitBreaker(name);
      let ran = false;
      const call = registry.callWithCircuitBreaker(last, async () => {
        ran = true;
      });
      const error = await call.then(
        () => null,
        (rejection: unknown) => rejection,
      );
      const answeredBefore = answered;
      await waitFor(() => answered >= count, { timeoutMs: 60_000 });
      console.log(
        `[figures] a call on the last of 20,000 circuits registered in one loop: answered after ${answeredBefore} of ${count} first reads`,
      );
      expect(ran).toBe(false);
      expect(error).toBeInstanceOf(CircuitOpenError);
      expect((error as CircuitOpenError).reason).toBe('forced_open');
      expect(servedBy[last]).toBe('redis');
      // Answered among the first reads sent, not after the queue: at most the 256 in flight before
      // it and a few batches more.
      expect(answeredBefore).toBeLessThan(count / 4);
    } finally {
      await registry.cleanup();
    }
  }, 120_000);

  it('a call whose first read is sent ahead of the burst meets a hanging Redis: answered by the mirror within the timeout', async () => {
    // Its own Redis, stopped (SIGSTOP) once the registry is connected: it takes connections and
    // commands and answers nothing until resumed.
    const frozen = await startRedis({ controllable: true });
    const keyPrefix = `burst-hang:${Date.now()}:`;
    const count = 20_000;
    const names = Array.from({ length: count }, (_, index) => `c${index}`);
    const last = names[count - 1] as string;
    const registry = await createCircuitBreakerRegistry({ url: frozen.url, keyPrefix });
    const servedBy: Record<string, string> = {};
    registry.stateManager.onOperation((event) => {
      if (event.operation === 'getState' && event.name === last) servedBy[last] = event.servedBy;
    });
    try {
      await frozen.pause();
      for (const name of names) registry.registerCircuitBreaker(name);
      const callAt = performance.now();
      let ran = false;
      await registry.callWithCircuitBreaker(last, async () => {
        ran = true;
      });
      const tookMs = performance.now() - callAt;
      console.log(
        `[figures] a call on the last of 20,000 circuits registered with Redis stopped: answered by the mirror ${Math.round(tookMs)} ms after it was made (operation timeout 250 ms)`,
      );
      expect(ran).toBe(true);
      expect(servedBy[last]).toBe('memory');
      // Within the operation timeout, plus what a stalled event loop adds; Redis never answers.
      expect(tookMs).toBeLessThan(5_000);
    } finally {
      await frozen.resume();
      await registry.cleanup();
      await frozen.stop();
    }
  }, 120_000);
});

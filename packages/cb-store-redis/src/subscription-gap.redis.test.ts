import { CircuitBreaker } from '@xnai/cb-core';
import { type RedisServer, startRedis, waitFor } from '@xnai/test-utils';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisCommandExecutor } from './redis-link.js';
import { RedisStateStore } from './redis-state-store.js';

let server: RedisServer;

beforeAll(async () => {
  server = await startRedis();
});

afterAll(async () => {
  await server?.stop();
});

/**
 * A command executor whose subscription comes up only when the test says so (a subscriber connection
 * slow to connect): commands run on a real client at once; messages reach the listeners only after
 * `goLive()`, and those published before are lost, as they are for a subscriber not yet subscribed.
 */
function slowSubscriber(url: string) {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const subscriber = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const listeners = new Map<string, Set<(message: string) => void>>();
  const executor: RedisCommandExecutor = {
    execute: (operation) => operation(client),
    subscribe(channel, listener) {
      let set = listeners.get(channel);
      if (set === undefined) {
        set = new Set();
        listeners.set(channel, set);
      }
      set.add(listener);
      return { [Symbol.dispose]: () => set?.delete(listener) };
    },
  };
  return {
    executor,
    async connect() {
      await client.connect();
      await subscriber.connect();
    },
    async goLive() {
      subscriber.on('message', (channel: string, message: string) => {
        for (const listener of listeners.get(channel) ?? []) listener(message);
      });
      await subscriber.subscribe(...listeners.keys());
    },
    close() {
      client.disconnect();
      subscriber.disconnect();
    },
  };
}

describe('the events subscription coming up late', () => {
  it('re-reads what its views read before the subscription was live, so a change made meanwhile is not missed', async () => {
    const keyPrefix = `gap:${Date.now()}:`;
    const slow = slowSubscriber(server.url);
    await slow.connect();
    const other = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await other.connect();
    const late = new RedisStateStore({ redis: slow.executor, keyPrefix });
    const elsewhere = new RedisStateStore({ redis: other, keyPrefix });
    const policy = { failureThreshold: 1, openTimeoutMs: 60_000 };
    const mine = new CircuitBreaker({ name: 'payments', store: late, ...policy });
    const theirs = new CircuitBreaker({ name: 'payments', store: elsewhere, ...policy });
    try {
      await theirs.refresh();
      // The view's first read waits for the subscription, gives up after a moment and reads.
      await expect(mine.execute(() => 'ok')).resolves.toBe('ok');
      expect(late.readBeforeSubscribed).toBe(true);
      // Another instance opens the circuit; the push reaches nobody here.
      await expect(theirs.execute(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
      await theirs.flush();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(mine.status).toBe('closed');
      // The subscription comes up: the store re-reads what its views hold.
      await slow.goLive();
      await late.whenSubscribed();
      await waitFor(() => mine.status === 'open', { timeoutMs: 2_000, message: 'the view re-read' });
    } finally {
      await mine.close();
      await theirs.close();
      await late.close();
      await elsewhere.close();
      slow.close();
      other.disconnect();
    }
  });
});

describe('a re-read after a reconnect racing a push', () => {
  it('does not undo a change pushed while its read, which found nothing, was on its way back', async () => {
    const keyPrefix = `resync-race:${Date.now()}:`;
    const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    const subscriber = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    await subscriber.connect();
    const listeners = new Map<string, Set<(message: string) => void>>();
    subscriber.on('message', (channel: string, message: string) => {
      for (const listener of listeners.get(channel) ?? []) listener(message);
    });
    const reconnected = new Set<() => void>();
    // Replies held back while `held` is set: the command ran in Redis, its answer is late.
    let held: Promise<void> | null = null;
    let release = () => {};
    const executor: RedisCommandExecutor = {
      async execute(operation) {
        const result = await operation(client);
        if (held !== null) await held;
        return result;
      },
      subscribe(channel, listener) {
        let set = listeners.get(channel);
        if (set === undefined) {
          set = new Set();
          listeners.set(channel, set);
          void subscriber.subscribe(channel);
        }
        set.add(listener);
        return { [Symbol.dispose]: () => set?.delete(listener) };
      },
      onReconnected(listener) {
        reconnected.add(listener);
        return { [Symbol.dispose]: () => reconnected.delete(listener) };
      },
    };
    const other = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await other.connect();
    const store = new RedisStateStore({ redis: executor, keyPrefix });
    const elsewhere = new RedisStateStore({ redis: other, keyPrefix });
    const policy = { failureThreshold: 1, openTimeoutMs: 60_000 };
    const mine = new CircuitBreaker({ name: 'payments', store, ...policy });
    const theirs = new CircuitBreaker({ name: 'payments', store: elsewhere, ...policy });
    try {
      await theirs.refresh();
      await expect(mine.execute(() => 'ok')).resolves.toBe('ok');
      await store.whenSubscribed();
      // The subscriber came back: the store re-reads its views' circuits. Redis answers "nothing"
      // at once, but the answer is slow to arrive...
      held = new Promise<void>((resolve) => {
        release = resolve;
      });
      for (const listener of reconnected) listener();
      await new Promise((resolve) => setTimeout(resolve, 50));
      // ...and meanwhile another instance opens the circuit, and the push arrives.
      await expect(theirs.execute(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
      await theirs.flush();
      await waitFor(() => mine.status === 'open', { timeoutMs: 2_000, message: 'the push arrived' });
      // The stale "nothing" arrives last: it must not take the view back to a fresh closed circuit.
      held = null;
      release();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(mine.status).toBe('open');
    } finally {
      held = null;
      release();
      await mine.close();
      await theirs.close();
      await store.close();
      await elsewhere.close();
      client.disconnect();
      subscriber.disconnect();
      other.disconnect();
    }
  });
});

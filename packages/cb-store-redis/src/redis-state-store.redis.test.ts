import { createCircuitBreaker, resolvePolicy } from '@xnai/cb-core';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import {
  describeStoreContract,
  type RedisServer,
  startFaultProxy,
  startRedis,
  waitFor,
} from '@xnai/test-utils';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStateStore } from './redis-state-store.js';

let server: RedisServer;
let manager: RedisConnectionManager;
let client: Redis;

beforeAll(async () => {
  server = await startRedis();
  manager = new RedisConnectionManager({ url: server.url });
  await manager.connect();
  client = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
  await client.connect();
});

afterAll(async () => {
  await manager?.disconnect();
  client?.disconnect();
  await server?.stop();
});

describeStoreContract('RedisStateStore over RedisConnectionManager', {
  create: () => new RedisStateStore({ redis: manager, keyPrefix: `contract:${Date.now()}:` }),
  createWithTtl: (ttlMs) =>
    new RedisStateStore({ redis: manager, keyPrefix: `contract-ttl:${Date.now()}:`, ttlMs }),
});

describeStoreContract('RedisStateStore over a bare ioredis client', {
  create: () => new RedisStateStore({ redis: client, keyPrefix: `contract-client:${Date.now()}:` }),
  createWithTtl: (ttlMs) =>
    new RedisStateStore({ redis: client, keyPrefix: `contract-client-ttl:${Date.now()}:`, ttlMs }),
});

describe('RedisStateStore keys and views', () => {
  it('writes with the seed TTL of one hour, refreshed by each write', async () => {
    const store = new RedisStateStore({ redis: client, keyPrefix: 'ttl:' });
    await store.record('t', [{ kind: 'failure' }], resolvePolicy());
    const ttl = await client.pttl('ttl:t');
    expect(ttl).toBeGreaterThan(3_590_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
    const short = new RedisStateStore({ redis: client, keyPrefix: 'ttl-short:', ttlMs: 150 });
    await short.record('t', [{ kind: 'failure' }], resolvePolicy());
    await waitFor(async () => (await short.getState('t')) === undefined, { timeoutMs: 2_000 });
    await store.close();
    await short.close();
  });

  it('re-reads the views it serves after its connection came back, catching changes it missed', async () => {
    const proxy = await startFaultProxy({ target: server });
    const cut = new RedisConnectionManager({ url: proxy.url, healthCheckIntervalMs: 100 });
    await cut.connect();
    const store = new RedisStateStore({ redis: cut, keyPrefix: 'resync:' });
    const other = new RedisStateStore({ redis: client, keyPrefix: 'resync:' });
    const breaker = createCircuitBreaker({
      name: 'r',
      store,
      failureThreshold: 1,
      refreshIntervalMs: 3_600_000,
    });
    await breaker.execute(() => 'ok');
    await store.whenSubscribed();

    proxy.setMode('reset');
    await waitFor(() => cut.fallbackMode, { timeoutMs: 2_000 });
    // While this instance is cut off, another one opens the circuit: the announcement never reaches it.
    await other.record('r', [{ kind: 'failure' }], breaker.policy);
    expect(breaker.status).toBe('closed');
    proxy.setMode('pass');
    await waitFor(() => breaker.status === 'open', { timeoutMs: 3_000 });

    await breaker.close();
    await store.close();
    await other.close();
    await cut.disconnect();
    await proxy.close();
  });
});

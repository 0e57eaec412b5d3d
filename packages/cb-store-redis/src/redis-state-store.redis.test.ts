import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { describeStoreContract, type RedisServer, startRedis } from '@xnai/test-utils';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
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
});

describeStoreContract('RedisStateStore over a bare ioredis client', {
  create: () => new RedisStateStore({ redis: client, keyPrefix: `contract-client:${Date.now()}:` }),
});

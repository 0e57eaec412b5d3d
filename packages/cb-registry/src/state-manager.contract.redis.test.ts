import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { describeStoreContract, type RedisServer, startRedis } from '@xnai/test-utils';
import { afterAll, beforeAll } from 'vitest';
import { CircuitBreakerStateManager } from './state-manager.js';

/** The state manager is a store like the others: it passes the same contract suite, every run. */
let server: RedisServer;
let manager: RedisConnectionManager;
let prefixes = 0;

beforeAll(async () => {
  server = await startRedis();
  manager = new RedisConnectionManager({ url: server.url });
  await manager.connect();
});

afterAll(async () => {
  await manager?.disconnect();
  await server?.stop();
});

const create = (ttlMs?: number) =>
  new CircuitBreakerStateManager({
    redis: manager,
    keyPrefix: `contract-sm:${process.pid}:${++prefixes}:`,
    ...(ttlMs === undefined ? {} : { ttlMs }),
  });

describeStoreContract('CircuitBreakerStateManager', {
  create: () => create(),
  createWithTtl: (ttlMs) => create(ttlMs),
});

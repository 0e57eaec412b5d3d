export type { RedisClient, RedisCommandExecutor } from './redis-link.js';
export {
  type CorruptStateEvent,
  createRedisStateStore,
  RedisStateStore,
  type RedisStateStoreOptions,
  type RedisStateStoreStats,
} from './redis-state-store.js';

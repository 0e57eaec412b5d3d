export {
  createMemoryStateStore,
  MemoryStateStore,
  type MemoryStateStoreOptions,
  type MemoryStoreStatus,
} from './memory-state-store.js';

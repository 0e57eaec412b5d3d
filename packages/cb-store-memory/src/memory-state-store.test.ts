import { describeStoreContract } from '@xnai/test-utils';
import { MemoryStateStore } from './memory-state-store.js';

describeStoreContract('MemoryStateStore', { create: () => new MemoryStateStore() });

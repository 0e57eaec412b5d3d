export { commandCounts, commandsSent, readsMade, scriptsRun } from './command-stats.js';
export { type FaultMode, type FaultProxy, type FaultProxyOptions, startFaultProxy } from './fault-proxy.js';
export { getFreePort } from './free-port.js';
export { type IpcWorker, percentile, startIpcWorker } from './ipc-worker.js';
export {
  hasContainerRuntime,
  type RedisBackend,
  type RedisServer,
  type StartRedisOptions,
  startRedis,
} from './redis-server.js';
export { describeStoreContract, type StoreContractOptions } from './store-contract.js';
export { createTlsMaterial, type TlsMaterial } from './tls-material.js';
export { delay, type WaitForOptions, waitFor } from './wait-for.js';

export { type FaultMode, type FaultProxy, type FaultProxyOptions, startFaultProxy } from './fault-proxy.ts';
export { getFreePort } from './free-port.ts';
export {
  hasContainerRuntime,
  type RedisBackend,
  type RedisServer,
  type StartRedisOptions,
  startRedis,
} from './redis-server.ts';
export { describeStoreContract, type StoreContractOptions } from './store-contract.ts';
export { delay, type WaitForOptions, waitFor } from './wait-for.ts';

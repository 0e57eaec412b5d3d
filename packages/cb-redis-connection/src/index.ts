export type { Clock, Disposable, TimerHandle, TimerProvider } from '@xnai/kit';
export { RedisAuthenticationError } from './errors/redis-authentication-error.js';
export { RedisCommandError } from './errors/redis-command-error.js';
export { RedisManagerError, type RedisManagerErrorCode } from './errors/redis-manager-error.js';
export { RedisTimeoutError } from './errors/redis-timeout-error.js';
export { RedisTlsError, type RedisTlsFailure } from './errors/redis-tls-error.js';
export { RedisUnavailableError, type RedisUnavailableReason } from './errors/redis-unavailable-error.js';
export type {
  AuthenticationFailedEvent,
  ConnectionErrorEvent,
  FallbackEnteredEvent,
  FallbackReason,
  RecoveredEvent,
  SubscriberReconnectedEvent,
} from './events.js';
export type { ConnectionMode, LastErrorInfo, RedisHealthStatus } from './health-status.js';
export {
  DEFAULT_REDIS_CONNECTION_OPTIONS,
  type RedisConnectionOptions,
  type SentinelAddress,
} from './options.js';
export { type ExecuteOptions, RedisConnectionManager } from './redis-connection-manager.js';

export { type CleanupLoopOptions, startCleanupLoop } from './cleanup-loop.js';
export { type CreateCircuitBreakerRegistryOptions, createCircuitBreakerRegistry } from './create-registry.js';
export { CircuitAlreadyRegisteredError } from './errors/circuit-already-registered-error.js';
export { CircuitNotRegisteredError } from './errors/circuit-not-registered-error.js';
export { CircuitRegistryError, type CircuitRegistryErrorCode } from './errors/circuit-registry-error.js';
export {
  type HealthResult,
  type LivenessBody,
  liveness,
  type ReadinessBody,
  type ReadinessOptions,
  readiness,
} from './health.js';
export type { Loop } from './loop.js';
export { mergeOverrides, mergeStates, sameStateContent } from './merge.js';
export { type FallbackAlert, type MonitorFallbackOptions, monitorFallback } from './monitor-fallback.js';
export {
  ENVIRONMENT_PRESETS,
  type EnvironmentName,
  RESOURCE_PRESETS,
  type RedisPreset,
  type ResourceProfile,
  resolveEnvironmentPreset,
} from './presets.js';
export {
  type CallOptions,
  type CircuitBreakerConfig,
  CircuitBreakerRegistry,
  type CircuitBreakerRegistryOptions,
  type CircuitStatusSummary,
  DEFAULT_CIRCUIT_BREAKER_REGISTRY_OPTIONS,
  type FallbackFunction,
  type RedisOutagePolicy,
  type RegistryEvent,
  type RegistryLogger,
  type RegistryStatus,
} from './registry.js';
export {
  CircuitBreakerStateManager,
  type CircuitBreakerStateManagerOptions,
  DEFAULT_CIRCUIT_BREAKER_STATE_MANAGER_OPTIONS,
  type FallbackStatus,
  type ReconciledEvent,
  type ReconcileTrigger,
  type StoreOperationEvent,
} from './state-manager.js';
export { callWithTieredFallback, type FallbackTier, type FallbackTiers } from './tiered-fallback.js';

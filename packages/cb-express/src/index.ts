export {
  type AdminGuard,
  type CircuitBreakerRouterOptions,
  createCircuitBreakerRouter,
} from './circuit-breaker-router.js';
export {
  type CircuitBreakerErrorBody,
  type CircuitBreakerErrorHandlerOptions,
  circuitBreakerErrorHandler,
} from './error-handler.js';
export { createHealthRouter, type HealthRouterOptions, livenessHandler, readinessHandler } from './health.js';
export { retryAfterSeconds } from './retry-after.js';
export { type ProtectedHandler, withCircuitBreaker } from './with-circuit-breaker.js';

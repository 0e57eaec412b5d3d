export {
  type BreakerProvider,
  type CircuitBreakerFetch,
  type CircuitBreakerFetchOptions,
  createCircuitBreakerFetch,
  type OriginBreakerOptions,
} from './circuit-breaker-fetch.js';
export { parseRetryAfter } from './retry-after.js';

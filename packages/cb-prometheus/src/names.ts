/** Which names the per-circuit metrics carry. */
export type MetricNaming = 'xnai' | 'resilience4j';

/** Every metric name this package registers, before the prefix. */
export const METRIC_NAMES = Object.freeze({
  state: 'circuit_breaker_state',
  calls: 'circuit_breaker_calls_total',
  callDuration: 'circuit_breaker_call_duration_seconds',
  transitions: 'circuit_breaker_transitions_total',
  fallbacks: 'circuit_breaker_fallbacks_total',
  storeMode: 'circuit_breaker_store_mode',
  storeOperationDuration: 'circuit_breaker_store_operation_duration_seconds',
  reconciliations: 'circuit_breaker_reconciliations_total',
  reconciledCircuits: 'circuit_breaker_reconciled_circuits_total',
  propagationDelay: 'circuit_breaker_state_propagation_delay_seconds',
  redisConnected: 'redis_connected',
  fallbackStatesActive: 'fallback_states_active',
  statePersistenceFailures: 'state_persistence_failures_total',
});

/** The per-circuit names of resilience4j's Micrometer binder, as Prometheus shows them. */
export const RESILIENCE4J_NAMES = Object.freeze({
  state: 'resilience4j_circuitbreaker_state',
  calls: 'resilience4j_circuitbreaker_calls_seconds',
  callsMax: 'resilience4j_circuitbreaker_calls_seconds_max',
  notPermitted: 'resilience4j_circuitbreaker_not_permitted_calls_total',
  failureRate: 'resilience4j_circuitbreaker_failure_rate',
  slowCallRate: 'resilience4j_circuitbreaker_slow_call_rate',
  bufferedCalls: 'resilience4j_circuitbreaker_buffered_calls',
  slowCalls: 'resilience4j_circuitbreaker_slow_calls',
});

/** A valid Prometheus metric name prefix: empty, or starting with a letter, `_` or `:`. */
export const PREFIX_PATTERN = /^(?:[a-zA-Z_:][a-zA-Z0-9_:]*)?$/;

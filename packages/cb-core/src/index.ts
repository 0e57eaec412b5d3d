// The kit every package shares (tooling/kit), bundled into this package: its clock, listener,
// disposable and option-check vocabulary is part of this package's API.
export {
  assertFunction,
  assertInteger,
  assertKnownKeys,
  assertNumber,
  assertObject,
  assertOneOf,
  type Clock,
  type Disposable,
  Listeners,
  systemClock,
  type TimerHandle,
  type TimerProvider,
  toDisposable,
} from '@xnai/kit';
export { CallGroup } from './call-runner.js';
export { ChangeListeners } from './change-listeners.js';
export {
  type CallEvent,
  type CallRejectionReason,
  CircuitBreaker,
  type CircuitBreakerOptions,
  createCircuitBreaker,
  DEFAULT_CIRCUIT_BREAKER_OPTIONS,
  type ExecuteOptions,
  type OverrideOptions,
  type StateChangeEvent,
  type StoreErrorEvent,
  type StoreFailureMode,
} from './circuit-breaker.js';
export { MAX_CIRCUIT_NAME_BYTES, validateCircuitName } from './circuit-name.js';
export {
  activeOverride,
  boundedOpenUntil,
  type CircuitOverride,
  type CircuitState,
  type CircuitStateData,
  type CircuitStatus,
  type CircuitTombstone,
  type CircuitWindow,
  createInitialState,
  effectiveStatus,
  isTombstone,
  type OverrideMode,
  type ProbeLease,
  STATE_SCHEMA_VERSION,
  type StoredCircuit,
  storedCircuitExpiry,
  type TimeBucket,
} from './circuit-state.js';
export { CallTimeoutError } from './errors/call-timeout-error.js';
export { CircuitBreakerError, type CircuitBreakerErrorCode } from './errors/circuit-breaker-error.js';
export { CircuitOpenError } from './errors/circuit-open-error.js';
export { ClosedError } from './errors/closed-error.js';
export { InvalidCircuitNameError } from './errors/invalid-circuit-name-error.js';
export { InvalidStateDataError } from './errors/invalid-state-data-error.js';
export { StoreUnavailableError } from './errors/store-unavailable-error.js';
export {
  assertRecordedOutcomes,
  EMPTY_BATCH,
  findOutcomeBatchProblem,
  isOutcomeBatch,
  type OutcomeBatch,
  OutcomeBatchBuilder,
  type RecordedOutcomes,
  type ReducedOutcomes,
  recentLimit,
  reduceOutcomes,
} from './outcome-batch.js';
export {
  backoffDuration,
  type CircuitPolicy,
  type CircuitPolicyOptions,
  type CountWindowOptions,
  DEFAULT_POLICY,
  JITTER_SCALE,
  MAX_DURATION_MS,
  openDuration,
  READ_LIMITS,
  type ResolvedTimeWindow,
  resolvePolicy,
  type SlidingWindowOptions,
  type TimeWindowOptions,
} from './policy.js';
export {
  assertOverrideRequest,
  assertStateData,
  findStateDataProblem,
  LEASE_ID,
  MAX_OVERRIDE_REASON_LENGTH,
} from './state-data.js';
export type {
  AcquireRequest,
  AcquireResult,
  Admission,
  CallOutcome,
  ChangeReceiver,
  CircuitStateChange,
  CircuitStateStore,
  CircuitTransition,
  OutcomeKind,
  OverrideRequest,
  ProbeTicket,
  RejectionReason,
  SubscribeOptions,
  TransitionReason,
} from './store.js';
export {
  boundStoredTimes,
  type CircuitEvent,
  decisionTime,
  emptyWindow,
  nextVersion,
  type TransitionOptions,
  type TransitionResult,
  tombstoneOf,
  transition,
  VERSIONS_PER_MS,
} from './transition.js';

import type {
  Attributes,
  BatchObservableResult,
  Counter,
  Histogram,
  Meter,
  Observable,
  ObservableCounter,
  ObservableGauge,
} from '@opentelemetry/api';
import {
  assertKnownKeys,
  assertObject,
  type CallEvent,
  type CallRejectionReason,
  type CircuitBreaker,
  type CircuitStateChange,
  type CircuitStatus,
  type Disposable,
  type StateChangeEvent,
  toDisposable,
} from '@xnai/cb-core';
import type { CircuitBreakerRegistry, RegistryEvent, StoreOperationEvent } from '@xnai/cb-registry';

/** Options of {@link createOpenTelemetryMetrics}. */
export interface OpenTelemetryMetricsOptions {
  /** The `Meter` to create instruments on (`metrics.getMeter('my-service')`). */
  readonly meter: Meter;
  /**
   * Put before every instrument name, e.g. `'payments.'`.
   * @default ''
   */
  readonly prefix?: string;
  /**
   * Bucket boundaries advised for the call duration histogram, in seconds.
   * @default DEFAULT_DURATION_BOUNDARIES
   */
  readonly durationBoundaries?: readonly number[];
  /**
   * Bucket boundaries advised for the store operation and propagation histograms, in seconds.
   * @default DEFAULT_STORE_BOUNDARIES
   */
  readonly storeBoundaries?: readonly number[];
}

/** Call duration boundaries (seconds): 1 ms to 10 s. */
export const DEFAULT_DURATION_BOUNDARIES: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);
/** Store operation and propagation boundaries (seconds): 0.5 ms to 1 s. */
export const DEFAULT_STORE_BOUNDARIES: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
]);

/** Every instrument name, before the prefix. */
export const INSTRUMENT_NAMES = Object.freeze({
  state: 'circuit_breaker.state',
  calls: 'circuit_breaker.calls',
  callDuration: 'circuit_breaker.call.duration',
  transitions: 'circuit_breaker.transitions',
  fallbacks: 'circuit_breaker.fallbacks',
  storeMode: 'circuit_breaker.store.mode',
  storeOperationDuration: 'circuit_breaker.store.operation.duration',
  reconciliations: 'circuit_breaker.reconciliations',
  reconciledCircuits: 'circuit_breaker.reconciled_circuits',
  propagationDelay: 'circuit_breaker.state.propagation.delay',
  redisConnected: 'circuit_breaker.redis.connected',
  fallbackStatesActive: 'circuit_breaker.fallback_states.active',
  statePersistenceFailures: 'circuit_breaker.state_persistence.failures',
});

/** Attribute keys the instruments use. */
export const ATTRIBUTES = Object.freeze({
  name: 'circuit_breaker.name',
  state: 'circuit_breaker.state',
  outcome: 'circuit_breaker.call.outcome',
  rejectionReason: 'circuit_breaker.rejection.reason',
  from: 'circuit_breaker.transition.from',
  to: 'circuit_breaker.transition.to',
  reason: 'circuit_breaker.transition.reason',
  storeMode: 'circuit_breaker.store.mode',
  operation: 'circuit_breaker.store.operation',
  servedBy: 'circuit_breaker.store.served_by',
  trigger: 'circuit_breaker.reconciliation.trigger',
  result: 'circuit_breaker.reconciliation.result',
});

const OPTION_NAMES = new Set(['meter', 'prefix', 'durationBoundaries', 'storeBoundaries']);
const STATUSES: readonly CircuitStatus[] = ['closed', 'open', 'half_open', 'forced_open', 'forced_closed'];
const REJECTION_REASONS: readonly CallRejectionReason[] = [
  'open',
  'half_open_full',
  'forced_open',
  'store_unavailable',
];
const PREFIX_PATTERN = /^(?:[a-zA-Z][a-zA-Z0-9_.\-/]*)?$/;

/** One circuit's counts, and the attributes its duration recordings reuse (no object per call). */
class CircuitCalls {
  success = 0;
  failure = 0;
  timeout = 0;
  ignored = 0;
  fallback = 0;
  readonly rejected: Record<CallRejectionReason, number> = {
    open: 0,
    half_open_full: 0,
    forced_open: 0,
    store_unavailable: 0,
  };
  readonly successAttributes: Attributes;
  readonly failureAttributes: Attributes;
  readonly timeoutAttributes: Attributes;
  readonly ignoredAttributes: Attributes;

  constructor(readonly name: string) {
    const of = (outcome: string) => Object.freeze({ [ATTRIBUTES.name]: name, [ATTRIBUTES.outcome]: outcome });
    this.successAttributes = of('success');
    this.failureAttributes = of('failure');
    this.timeoutAttributes = of('timeout');
    this.ignoredAttributes = of('ignored');
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || value === undefined) return String(value);
  return typeof value;
}

function assertBoundaries(option: string, value: unknown): readonly number[] {
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    value.some(
      (bound, index) =>
        typeof bound !== 'number' || !Number.isFinite(bound) || bound <= (index === 0 ? 0 : value[index - 1]),
    )
  ) {
    throw new RangeError(
      `${option} must be a non-empty array of finite, positive, strictly increasing numbers, got ${JSON.stringify(value)}`,
    );
  }
  return Object.freeze([...(value as number[])]);
}

/**
 * OpenTelemetry metrics of circuit breakers on a `Meter` of `@opentelemetry/api`: the same figures as
 * `@xnai/cb-prometheus`, named by OpenTelemetry's conventions (dotted names, durations in seconds with
 * unit `s`). Counts are observable instruments read at collection; only the duration histogram is
 * recorded on the call path (OpenTelemetry has no observable histogram).
 */
export class OpenTelemetryMetrics implements globalThis.Disposable {
  readonly #calls = new Map<string, CircuitCalls>();
  readonly #breakers = new Map<string, CircuitBreaker<unknown>>();
  readonly #bindings = new Set<Disposable>();
  readonly #callDuration: Histogram;
  readonly #transitions: Counter;
  readonly #storeOperationDuration: Histogram;
  readonly #reconciliations: Counter;
  readonly #reconciledCircuits: Counter;
  readonly #propagationDelay: Histogram;
  readonly #statePersistenceFailures: Counter;
  readonly #observables: Observable[];
  readonly #meter: Meter;
  readonly #observe = (result: BatchObservableResult): void => this.#collect(result);
  readonly #state: ObservableGauge;
  readonly #callsCounter: ObservableCounter;
  readonly #fallbacks: ObservableCounter;
  readonly #storeMode: ObservableGauge;
  readonly #redisConnected: ObservableGauge;
  readonly #fallbackStatesActive: ObservableGauge;
  readonly #operationAttributes = new Map<string, Attributes>();
  #registry: CircuitBreakerRegistry | null = null;
  #lastName = '';
  #lastCalls: CircuitCalls | null = null;
  #closed = false;

  /** @throws {TypeError | RangeError} an option is invalid, naming it and the value. */
  constructor(options: OpenTelemetryMetricsOptions) {
    assertKnownKeys('options', assertObject('options', options), OPTION_NAMES);
    const meter = options.meter as Meter | undefined;
    if (
      typeof meter?.createHistogram !== 'function' ||
      typeof meter.addBatchObservableCallback !== 'function'
    ) {
      throw new TypeError(`meter must be an OpenTelemetry Meter, got ${describe(meter)}`);
    }
    this.#meter = meter;
    const prefix = options.prefix ?? '';
    if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
      throw new TypeError(`prefix must be empty or start with a letter, got ${describe(prefix)}`);
    }
    const duration =
      options.durationBoundaries === undefined
        ? DEFAULT_DURATION_BOUNDARIES
        : assertBoundaries('durationBoundaries', options.durationBoundaries);
    const store =
      options.storeBoundaries === undefined
        ? DEFAULT_STORE_BOUNDARIES
        : assertBoundaries('storeBoundaries', options.storeBoundaries);
    const names = INSTRUMENT_NAMES;
    this.#state = meter.createObservableGauge(prefix + names.state, {
      description: 'Circuit status, one-hot: 1 for the status the circuit is in, 0 for the others',
      unit: '1',
    });
    this.#callsCounter = meter.createObservableCounter(prefix + names.calls, {
      description: 'Calls through the circuit breaker by outcome (rejected ones with their reason)',
      unit: '{call}',
    });
    this.#callDuration = meter.createHistogram(prefix + names.callDuration, {
      description: 'How long calls through the circuit breaker ran, by outcome',
      unit: 's',
      advice: { explicitBucketBoundaries: [...duration] },
    });
    this.#transitions = meter.createCounter(prefix + names.transitions, {
      description: 'Status changes of the circuit seen by this instance',
      unit: '{transition}',
    });
    this.#fallbacks = meter.createObservableCounter(prefix + names.fallbacks, {
      description: "Calls whose rejection or failure the breaker's fallback replaced",
      unit: '{call}',
    });
    this.#storeMode = meter.createObservableGauge(prefix + names.storeMode, {
      description: 'Where store operations go now, one-hot: redis, or memory while Redis is unavailable',
      unit: '1',
    });
    this.#storeOperationDuration = meter.createHistogram(prefix + names.storeOperationDuration, {
      description: 'How long state store operations took, by operation and where they were served',
      unit: 's',
      advice: { explicitBucketBoundaries: [...store] },
    });
    this.#reconciliations = meter.createCounter(prefix + names.reconciliations, {
      description: 'Reconciliations of the in-memory mirror into Redis, by trigger and result',
      unit: '{reconciliation}',
    });
    this.#reconciledCircuits = meter.createCounter(prefix + names.reconciledCircuits, {
      description: 'Circuits handled by reconciliations, by result (merged, conflicting, reseeded, failed)',
      unit: '{circuit}',
    });
    this.#propagationDelay = meter.createHistogram(prefix + names.propagationDelay, {
      description: 'Time from a transition in Redis to this instance hearing of it (Redis time)',
      unit: 's',
      advice: { explicitBucketBoundaries: [...store] },
    });
    this.#redisConnected = meter.createObservableGauge(prefix + names.redisConnected, {
      description: 'Whether Redis is connected (1) or not (0)',
      unit: '1',
    });
    this.#fallbackStatesActive = meter.createObservableGauge(prefix + names.fallbackStatesActive, {
      description: 'Circuits changed in memory while Redis was unavailable and not yet reconciled',
      unit: '{circuit}',
    });
    this.#statePersistenceFailures = meter.createCounter(prefix + names.statePersistenceFailures, {
      description: 'State changes that reached only the in-memory mirror (Redis unavailable)',
      unit: '{write}',
    });
    this.#observables = [
      this.#state,
      this.#callsCounter,
      this.#fallbacks,
      this.#storeMode,
      this.#redisConnected,
      this.#fallbackStatesActive,
    ];
    meter.addBatchObservableCallback(this.#observe, this.#observables);
  }

  /**
   * Reports every breaker of `registry` (those registered later too) and the fleet's metrics.
   * @returns a disposable that stops reporting it.
   * @throws {Error} another registry is bound, or the metrics were closed.
   */
  bindRegistry(registry: CircuitBreakerRegistry): Disposable {
    this.#assertOpen();
    if (typeof registry?.onCall !== 'function' || typeof registry.onEvent !== 'function') {
      throw new TypeError(`registry must be a CircuitBreakerRegistry, got ${describe(registry)}`);
    }
    if (this.#registry !== null)
      throw new Error('a CircuitBreakerRegistry is already bound to these metrics');
    this.#registry = registry;
    const subscriptions: Disposable[] = [
      registry.onCall(this.#onCall),
      registry.onEvent((event) => this.#onRegistryEvent(event)),
      registry.stateManager.onOperation((event) => this.#onOperation(event)),
      registry.stateManager.subscribe((change) => this.#onPushedChange(registry, change)),
    ];
    return this.#binding(() => {
      for (const subscription of subscriptions) subscription.dispose();
      if (this.#registry === registry) this.#registry = null;
    });
  }

  /**
   * Reports one breaker outside a registry.
   * @returns a disposable that stops reporting it.
   * @throws {Error} a breaker of that name is already bound, or the metrics were closed.
   */
  bindBreaker(breaker: CircuitBreaker<unknown>): Disposable {
    this.#assertOpen();
    if (typeof breaker?.onCall !== 'function' || typeof breaker.onStateChange !== 'function') {
      throw new TypeError(`breaker must be a CircuitBreaker, got ${describe(breaker)}`);
    }
    if (this.#breakers.has(breaker.name)) {
      throw new Error(`a breaker named ${JSON.stringify(breaker.name)} is already bound to these metrics`);
    }
    this.#breakers.set(breaker.name, breaker);
    const subscriptions = [
      breaker.onCall(this.#onCall),
      breaker.onStateChange((event) => this.#onStateChange(event)),
    ];
    return this.#binding(() => {
      for (const subscription of subscriptions) subscription.dispose();
      if (this.#breakers.get(breaker.name) === breaker) this.#breakers.delete(breaker.name);
    });
  }

  /** Unbinds everything and removes the observable callback. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const binding of [...this.#bindings]) binding.dispose();
    this.#meter.removeBatchObservableCallback(this.#observe, this.#observables);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #binding(cleanup: () => void): Disposable {
    const binding = toDisposable(() => {
      this.#bindings.delete(binding);
      cleanup();
    });
    this.#bindings.add(binding);
    return binding;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('these OpenTelemetryMetrics were closed');
  }

  readonly #onCall = (event: CallEvent): void => {
    let calls = this.#lastCalls;
    if (calls === null || event.name !== this.#lastName) {
      calls = this.#calls.get(event.name) ?? this.#newCircuit(event.name);
      this.#lastName = event.name;
      this.#lastCalls = calls;
    }
    switch (event.type) {
      case 'success':
        calls.success += 1;
        this.#callDuration.record(event.durationMs / 1_000, calls.successAttributes);
        return;
      case 'failure':
        calls.failure += 1;
        this.#callDuration.record(event.durationMs / 1_000, calls.failureAttributes);
        return;
      case 'timeout':
        calls.timeout += 1;
        this.#callDuration.record(event.durationMs / 1_000, calls.timeoutAttributes);
        return;
      case 'ignored':
        calls.ignored += 1;
        this.#callDuration.record(event.durationMs / 1_000, calls.ignoredAttributes);
        return;
      case 'rejected':
        calls.rejected[event.reason] += 1;
        return;
      case 'fallback':
        calls.fallback += 1;
        return;
      default:
        return;
    }
  };

  #newCircuit(name: string): CircuitCalls {
    const calls = new CircuitCalls(name);
    this.#calls.set(name, calls);
    return calls;
  }

  #onStateChange(event: StateChangeEvent): void {
    this.#transitions.add(1, {
      [ATTRIBUTES.name]: event.name,
      [ATTRIBUTES.from]: event.from,
      [ATTRIBUTES.to]: event.to,
      [ATTRIBUTES.reason]: event.reason,
    });
  }

  #onRegistryEvent(event: RegistryEvent): void {
    switch (event.type) {
      case 'state_change':
        this.#onStateChange(event);
        return;
      case 'reconciled': {
        this.#reconciliations.add(1, {
          [ATTRIBUTES.trigger]: event.trigger,
          [ATTRIBUTES.result]: event.failed > 0 ? 'failure' : 'success',
        });
        for (const kind of ['merged', 'conflicting', 'reseeded', 'failed'] as const) {
          if (event[kind] > 0) this.#reconciledCircuits.add(event[kind], { [ATTRIBUTES.result]: kind });
        }
        return;
      }
      case 'fallback_write':
        this.#statePersistenceFailures.add(1, {
          [ATTRIBUTES.name]: event.name,
          [ATTRIBUTES.operation]: event.operation,
        });
        return;
      default:
        return;
    }
  }

  #onOperation(event: StoreOperationEvent): void {
    const key = `${event.operation}\u0000${event.servedBy}`;
    let attributes = this.#operationAttributes.get(key);
    if (attributes === undefined) {
      attributes = Object.freeze({
        [ATTRIBUTES.operation]: event.operation,
        [ATTRIBUTES.servedBy]: event.servedBy,
      });
      this.#operationAttributes.set(key, attributes);
    }
    this.#storeOperationDuration.record(event.durationMs / 1_000, attributes);
  }

  #onPushedChange(registry: CircuitBreakerRegistry, change: CircuitStateChange): void {
    const transition = change.transition;
    if (transition === null || !registry.stateManager.redisAvailable) return;
    const delayMs = registry.stateManager.clock.now() - transition.at;
    this.#propagationDelay.record(Math.max(0, delayMs) / 1_000);
  }

  #collect(result: BatchObservableResult): void {
    const breakers: Array<CircuitBreaker<unknown>> = [];
    const registry = this.#registry;
    if (registry !== null && !registry.closed) {
      for (const name of registry.list()) {
        const breaker = registry.get(name);
        if (breaker !== undefined) breakers.push(breaker);
      }
    }
    breakers.push(...this.#breakers.values());
    for (const breaker of breakers) {
      const status = breaker.status;
      for (const state of STATUSES) {
        result.observe(this.#state, state === status ? 1 : 0, {
          [ATTRIBUTES.name]: breaker.name,
          [ATTRIBUTES.state]: state,
        });
      }
    }
    for (const calls of this.#calls.values()) {
      result.observe(this.#callsCounter, calls.success, calls.successAttributes);
      result.observe(this.#callsCounter, calls.failure, calls.failureAttributes);
      result.observe(this.#callsCounter, calls.timeout, calls.timeoutAttributes);
      result.observe(this.#callsCounter, calls.ignored, calls.ignoredAttributes);
      for (const reason of REJECTION_REASONS) {
        if (calls.rejected[reason] === 0 && reason !== 'open') continue;
        result.observe(this.#callsCounter, calls.rejected[reason], {
          [ATTRIBUTES.name]: calls.name,
          [ATTRIBUTES.outcome]: 'rejected',
          [ATTRIBUTES.rejectionReason]: reason,
        });
      }
      result.observe(this.#fallbacks, calls.fallback, { [ATTRIBUTES.name]: calls.name });
    }
    if (registry !== null) {
      const redis = registry.stateManager.redisAvailable;
      result.observe(this.#storeMode, redis ? 1 : 0, { [ATTRIBUTES.storeMode]: 'redis' });
      result.observe(this.#storeMode, redis ? 0 : 1, { [ATTRIBUTES.storeMode]: 'memory' });
      result.observe(this.#redisConnected, registry.redis?.isConnected === true ? 1 : 0);
      result.observe(
        this.#fallbackStatesActive,
        registry.stateManager.getFallbackStatus().fallbackStatesCount,
      );
    }
  }
}

/**
 * Creates {@link OpenTelemetryMetrics} on a `Meter`.
 * @throws {TypeError | RangeError} an option is invalid, naming it and the value.
 * @example
 * ```ts
 * import { metrics } from '@opentelemetry/api';
 * import { createOpenTelemetryMetrics } from '@xnai/cb-opentelemetry';
 *
 * const breakerMetrics = createOpenTelemetryMetrics({ meter: metrics.getMeter('checkout') });
 * breakerMetrics.bindRegistry(circuitBreakerRegistry);
 * ```
 */
export function createOpenTelemetryMetrics(options: OpenTelemetryMetricsOptions): OpenTelemetryMetrics {
  return new OpenTelemetryMetrics(options);
}

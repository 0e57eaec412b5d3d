import {
  assertKnownKeys,
  assertObject,
  assertOneOf,
  type CallEvent,
  type CallRejectionReason,
  type CircuitBreaker,
  type CircuitStateChange,
  type CircuitStatus,
  type Disposable,
  type StateChangeEvent,
  toDisposable,
} from '@xnai/cb-core';
import type {
  CircuitBreakerRegistry,
  ReconciledEvent,
  RegistryEvent,
  StoreOperationEvent,
} from '@xnai/cb-registry';
import type { Registry } from 'prom-client';
import { assertBuckets, describe, HistogramData } from './histogram-data.js';
import { histogramSamples, type Labels, MetricFamily, type Sample } from './metric-family.js';
import { METRIC_NAMES, type MetricNaming, PREFIX_PATTERN, RESILIENCE4J_NAMES } from './names.js';

/** Options of {@link createPrometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** The prom-client `Registry` to register in (yours: this package never uses the global one). */
  readonly register: Registry;
  /**
   * Put before every metric name, e.g. `'payments_'`.
   * @default ''
   */
  readonly prefix?: string;
  /**
   * `'xnai'`: this package's names (`circuit_breaker_*`). `'resilience4j'`: the per-circuit metrics
   * take the names of resilience4j's Micrometer binder (`resilience4j_circuitbreaker_*`), so that
   * Grafana dashboards built for it work; the fleet's and the seed's metrics keep their names.
   * @default 'xnai'
   */
  readonly naming?: MetricNaming;
  /**
   * Bucket bounds of the call duration histogram, in seconds.
   * @default DEFAULT_DURATION_BUCKETS
   */
  readonly durationBuckets?: readonly number[];
  /**
   * Bucket bounds of the store operation duration and propagation delay histograms, in seconds.
   * @default DEFAULT_STORE_BUCKETS
   */
  readonly storeBuckets?: readonly number[];
}

/** Call duration buckets (seconds): 1 ms to 10 s. */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** Store operation and propagation buckets (seconds): 0.5 ms to 1 s. */
export const DEFAULT_STORE_BUCKETS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
]);

const OPTION_NAMES = new Set(['register', 'prefix', 'naming', 'durationBuckets', 'storeBuckets']);
const STATUSES: readonly CircuitStatus[] = ['closed', 'open', 'half_open', 'forced_open', 'forced_closed'];
/** resilience4j's states; `forced_closed` is what it calls `disabled` (every call passes, none counts). */
const RESILIENCE4J_STATES = [
  'closed',
  'open',
  'half_open',
  'forced_open',
  'disabled',
  'metrics_only',
] as const;
const REJECTION_REASONS: readonly CallRejectionReason[] = [
  'open',
  'half_open_full',
  'forced_open',
  'store_unavailable',
];

/** What this package counts of one circuit's calls. */
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
  readonly successDurations: HistogramData;
  readonly failureDurations: HistogramData;
  readonly timeoutDurations: HistogramData;
  readonly ignoredDurations: HistogramData;

  constructor(buckets: readonly number[]) {
    this.successDurations = new HistogramData(buckets);
    this.failureDurations = new HistogramData(buckets);
    this.timeoutDurations = new HistogramData(buckets);
    this.ignoredDurations = new HistogramData(buckets);
  }

  reset(): void {
    this.success = 0;
    this.failure = 0;
    this.timeout = 0;
    this.ignored = 0;
    this.fallback = 0;
    for (const reason of REJECTION_REASONS) this.rejected[reason] = 0;
    this.successDurations.reset();
    this.failureDurations.reset();
    this.timeoutDurations.reset();
    this.ignoredDurations.reset();
  }
}

interface Counted {
  readonly labels: Labels;
  value: number;
}

/** A series of counters keyed by their label values. */
class CounterSeries {
  readonly #series = new Map<string, Counted>();

  add(key: string, labels: () => Labels, by = 1): void {
    const entry = this.#series.get(key);
    if (entry === undefined) this.#series.set(key, { labels: labels(), value: by });
    else entry.value += by;
  }

  samples(into: Sample[]): Sample[] {
    for (const entry of this.#series.values()) into.push({ labels: entry.labels, value: entry.value });
    return into;
  }

  reset(): void {
    for (const entry of this.#series.values()) entry.value = 0;
  }
}

/**
 * Prometheus metrics of circuit breakers, registered in a prom-client `Registry` you own. Bind a
 * {@link CircuitBreakerRegistry} (every breaker, present and future, plus the fleet's store metrics
 * and the seed's three) or single breakers. A call costs a few additions (no label hashing, no
 * prom-client call); figures are formatted when Prometheus scrapes. `collectDefaultMetrics` is never
 * called.
 */
export class PrometheusMetrics implements globalThis.Disposable {
  /** The names registered, prefix included. */
  readonly metricNames: readonly string[];
  readonly #register: Registry;
  readonly #naming: MetricNaming;
  readonly #durationBuckets: readonly number[];
  readonly #storeBuckets: readonly number[];
  readonly #families: MetricFamily[] = [];
  readonly #calls = new Map<string, CircuitCalls>();
  readonly #transitions = new CounterSeries();
  readonly #storeOperations = new Map<string, { labels: Labels; data: HistogramData }>();
  readonly #reconciliations = new CounterSeries();
  readonly #reconciledCircuits = new CounterSeries();
  readonly #persistenceFailures = new CounterSeries();
  readonly #propagation: HistogramData;
  /** Breakers bound one by one, reported in the state gauge. */
  readonly #breakers = new Map<string, CircuitBreaker<unknown>>();
  readonly #bindings = new Set<Disposable>();
  #registry: CircuitBreakerRegistry | null = null;
  /** The last circuit a call came from: consecutive calls of one circuit skip the map lookup. */
  #lastName = '';
  #lastCalls: CircuitCalls | null = null;
  #closed = false;

  /**
   * @throws {TypeError | RangeError} an option is invalid, naming it and the value.
   * @throws {Error} from prom-client when a metric of the same name is already registered there.
   */
  constructor(options: PrometheusMetricsOptions) {
    assertKnownKeys('options', assertObject('options', options), OPTION_NAMES);
    const register = options.register as Registry | undefined;
    if (
      typeof register !== 'object' ||
      register === null ||
      typeof register.registerMetric !== 'function' ||
      typeof register.removeSingleMetric !== 'function'
    ) {
      throw new TypeError(`register must be a prom-client Registry, got ${describe(register)}`);
    }
    this.#register = register;
    const prefix = options.prefix ?? '';
    if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
      throw new TypeError(
        `prefix must be empty or start with a letter, _ or : and hold only letters, digits, _ and :, got ${describe(prefix)}`,
      );
    }
    this.#naming = assertOneOf('naming', options.naming ?? 'xnai', ['xnai', 'resilience4j']);
    this.#durationBuckets =
      options.durationBuckets === undefined
        ? DEFAULT_DURATION_BUCKETS
        : assertBuckets('durationBuckets', options.durationBuckets);
    this.#storeBuckets =
      options.storeBuckets === undefined
        ? DEFAULT_STORE_BUCKETS
        : assertBuckets('storeBuckets', options.storeBuckets);
    this.#propagation = new HistogramData(this.#storeBuckets);
    const families = this.#naming === 'xnai' ? this.#ownCircuitFamilies(prefix) : this.#r4jFamilies(prefix);
    families.push(...this.#sharedFamilies(prefix));
    const registered: MetricFamily[] = [];
    try {
      for (const family of families) {
        register.registerMetric(family as never);
        registered.push(family);
      }
    } catch (error) {
      for (const family of registered) register.removeSingleMetric(family.name);
      throw error;
    }
    this.#families.push(...registered);
    this.metricNames = Object.freeze(registered.map((family) => family.name));
  }

  // ------------------------------------------------------------------------------------------
  // binding

  /**
   * Reports every breaker of `registry` (those registered later too), its state changes, and the
   * fleet's metrics: store mode, store operation durations, reconciliations, propagation delay, and
   * the seed's `redis_connected`, `fallback_states_active`, `state_persistence_failures_total`.
   * @returns a disposable that stops reporting it (counters keep their values).
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
    const stateManager = registry.stateManager;
    const subscriptions: Disposable[] = [
      registry.onCall(this.#onCall),
      registry.onEvent((event) => this.#onRegistryEvent(event)),
      stateManager.onOperation((event) => this.#onOperation(event)),
      stateManager.subscribe((change) => this.#onPushedChange(registry, change)),
    ];
    return this.#binding(() => {
      for (const subscription of subscriptions) subscription.dispose();
      if (this.#registry === registry) this.#registry = null;
    });
  }

  /**
   * Reports one breaker's calls, state and transitions (for breakers outside a registry; a
   * registry's breakers are covered by {@link bindRegistry}).
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

  #binding(cleanup: () => void): Disposable {
    const binding = toDisposable(() => {
      this.#bindings.delete(binding);
      cleanup();
    });
    this.#bindings.add(binding);
    return binding;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('these PrometheusMetrics were closed');
  }

  /** Unbinds everything and removes every metric of this instance from the prom-client registry. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const binding of [...this.#bindings]) binding.dispose();
    for (const family of this.#families) {
      if (this.#register.getSingleMetric(family.name) === (family as never)) {
        this.#register.removeSingleMetric(family.name);
      }
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // ------------------------------------------------------------------------------------------
  // events

  /** The call path: find the circuit's counters, add one, observe the duration. */
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
        calls.successDurations.observe(event.durationMs / 1_000);
        return;
      case 'failure':
        calls.failure += 1;
        calls.failureDurations.observe(event.durationMs / 1_000);
        return;
      case 'timeout':
        calls.timeout += 1;
        calls.timeoutDurations.observe(event.durationMs / 1_000);
        return;
      case 'ignored':
        calls.ignored += 1;
        calls.ignoredDurations.observe(event.durationMs / 1_000);
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
    const calls = new CircuitCalls(this.#durationBuckets);
    this.#calls.set(name, calls);
    return calls;
  }

  #onStateChange(event: StateChangeEvent): void {
    const { name, from, to, reason } = event;
    this.#transitions.add(`${name}\u0000${from}\u0000${to}\u0000${reason}`, () => ({
      name,
      from,
      to,
      reason,
    }));
  }

  #onRegistryEvent(event: RegistryEvent): void {
    switch (event.type) {
      case 'state_change':
        this.#onStateChange(event);
        return;
      case 'reconciled':
        this.#onReconciled(event);
        return;
      case 'fallback_write': {
        const { name, operation } = event;
        this.#persistenceFailures.add(`${name}\u0000${operation}`, () => ({ name, operation }));
        return;
      }
      default:
        return;
    }
  }

  #onReconciled(event: ReconciledEvent): void {
    const { trigger } = event;
    const result = event.failed > 0 ? 'failure' : 'success';
    this.#reconciliations.add(`${trigger}\u0000${result}`, () => ({ trigger, result }));
    for (const kind of ['merged', 'conflicting', 'reseeded', 'failed'] as const) {
      if (event[kind] > 0) this.#reconciledCircuits.add(kind, () => ({ result: kind }), event[kind]);
    }
  }

  #onOperation(event: StoreOperationEvent): void {
    const key = `${event.operation}\u0000${event.servedBy}`;
    let entry = this.#storeOperations.get(key);
    if (entry === undefined) {
      entry = {
        labels: { operation: event.operation, served_by: event.servedBy },
        data: new HistogramData(this.#storeBuckets),
      };
      this.#storeOperations.set(key, entry);
    }
    entry.data.observe(event.durationMs / 1_000);
  }

  /**
   * A transition that reached this instance through the store: Redis time now minus Redis time of
   * the transition is how long the fleet took to tell this instance. Changes the memory mirror makes
   * during an outage are not propagation and are left out.
   */
  #onPushedChange(registry: CircuitBreakerRegistry, change: CircuitStateChange): void {
    const transition = change.transition;
    if (transition === null || !registry.stateManager.redisAvailable) return;
    const delayMs = registry.stateManager.clock.now() - transition.at;
    this.#propagation.observe(Math.max(0, delayMs) / 1_000);
  }

  // ------------------------------------------------------------------------------------------
  // what a scrape reads

  /** Every breaker whose state is reported: the bound registry's and those bound one by one. */
  #statusBreakers(): Array<CircuitBreaker<unknown>> {
    const breakers: Array<CircuitBreaker<unknown>> = [];
    const registry = this.#registry;
    if (registry !== null && !registry.closed) {
      for (const name of registry.list()) {
        const breaker = registry.get(name);
        if (breaker !== undefined) breakers.push(breaker);
      }
    }
    for (const breaker of this.#breakers.values()) breakers.push(breaker);
    return breakers;
  }

  #resetCalls(): void {
    for (const calls of this.#calls.values()) calls.reset();
  }

  #ownCircuitFamilies(prefix: string): MetricFamily[] {
    const names = METRIC_NAMES;
    return [
      new MetricFamily(
        prefix + names.state,
        'Circuit status, one-hot: 1 for the status the circuit is in, 0 for the others',
        'gauge',
        () => {
          const samples: Sample[] = [];
          for (const breaker of this.#statusBreakers()) {
            const status = breaker.status;
            for (const state of STATUSES) {
              samples.push({ labels: { name: breaker.name, state }, value: state === status ? 1 : 0 });
            }
          }
          return samples;
        },
        undefined,
        'max',
      ),
      new MetricFamily(
        prefix + names.calls,
        'Calls through the circuit breaker by outcome (success, failure, timeout, ignored, rejected with its reason)',
        'counter',
        () => {
          const samples: Sample[] = [];
          for (const [name, calls] of this.#calls) {
            samples.push(
              { labels: { name, outcome: 'success' }, value: calls.success },
              { labels: { name, outcome: 'failure' }, value: calls.failure },
              { labels: { name, outcome: 'timeout' }, value: calls.timeout },
              { labels: { name, outcome: 'ignored' }, value: calls.ignored },
            );
            for (const reason of REJECTION_REASONS) {
              if (calls.rejected[reason] > 0 || reason === 'open') {
                samples.push({
                  labels: { name, outcome: 'rejected', reason },
                  value: calls.rejected[reason],
                });
              }
            }
          }
          return samples;
        },
        () => this.#resetCalls(),
      ),
      new MetricFamily(
        prefix + names.callDuration,
        'How long calls through the circuit breaker ran, in seconds, by outcome',
        'histogram',
        () => {
          const samples: Sample[] = [];
          const name = prefix + names.callDuration;
          for (const [circuit, calls] of this.#calls) {
            histogramSamples(name, { name: circuit, outcome: 'success' }, calls.successDurations, samples);
            histogramSamples(name, { name: circuit, outcome: 'failure' }, calls.failureDurations, samples);
            histogramSamples(name, { name: circuit, outcome: 'timeout' }, calls.timeoutDurations, samples);
            histogramSamples(name, { name: circuit, outcome: 'ignored' }, calls.ignoredDurations, samples);
          }
          return samples;
        },
        () => this.#resetCalls(),
      ),
      ...this.#transitionFamilies(prefix),
    ];
  }

  #transitionFamilies(prefix: string): MetricFamily[] {
    return [
      new MetricFamily(
        prefix + METRIC_NAMES.transitions,
        'Status changes of the circuit seen by this instance, by from, to and reason',
        'counter',
        () => this.#transitions.samples([]),
        () => this.#transitions.reset(),
      ),
      new MetricFamily(
        prefix + METRIC_NAMES.fallbacks,
        "Calls whose rejection or failure the breaker's fallback replaced",
        'counter',
        () => [...this.#calls].map(([name, calls]) => ({ labels: { name }, value: calls.fallback })),
        () => this.#resetCalls(),
      ),
    ];
  }

  #r4jFamilies(prefix: string): MetricFamily[] {
    const names = RESILIENCE4J_NAMES;
    const kinds = (calls: CircuitCalls) =>
      [
        ['successful', [calls.successDurations]],
        ['failed', [calls.failureDurations, calls.timeoutDurations]],
        ['ignored', [calls.ignoredDurations]],
      ] as const;
    return [
      new MetricFamily(
        prefix + names.state,
        'The states of the circuit breaker',
        'gauge',
        () => {
          const samples: Sample[] = [];
          for (const breaker of this.#statusBreakers()) {
            const status = breaker.status;
            const current = status === 'forced_closed' ? 'disabled' : status;
            for (const state of RESILIENCE4J_STATES) {
              samples.push({ labels: { name: breaker.name, state }, value: state === current ? 1 : 0 });
            }
          }
          return samples;
        },
        undefined,
        'max',
      ),
      new MetricFamily(
        prefix + names.calls,
        'Total number of calls by kind (successful, failed, ignored)',
        'histogram',
        () => {
          const samples: Sample[] = [];
          const name = prefix + names.calls;
          for (const [circuit, calls] of this.#calls) {
            for (const [kind, parts] of kinds(calls)) {
              histogramSamples(name, { name: circuit, kind }, combine(parts, this.#durationBuckets), samples);
            }
          }
          return samples;
        },
        () => this.#resetCalls(),
      ),
      new MetricFamily(
        prefix + names.callsMax,
        'Longest call by kind since the previous scrape, in seconds',
        'gauge',
        () => {
          const samples: Sample[] = [];
          for (const [circuit, calls] of this.#calls) {
            for (const [kind, parts] of kinds(calls)) {
              const max = Math.max(...parts.map((part) => part.takeMax()));
              samples.push({ labels: { name: circuit, kind }, value: max });
            }
          }
          return samples;
        },
        undefined,
        'max',
      ),
      new MetricFamily(
        prefix + names.notPermitted,
        'Total number of not permitted calls',
        'counter',
        () =>
          [...this.#calls].map(([name, calls]) => ({
            labels: { name, kind: 'not_permitted' },
            value: REJECTION_REASONS.reduce((sum, reason) => sum + calls.rejected[reason], 0),
          })),
        () => this.#resetCalls(),
      ),
      ...this.#windowFamilies(prefix),
      ...this.#transitionFamilies(prefix),
    ];
  }

  /** resilience4j's sliding-window gauges, read from each breaker's view of its window. */
  #windowFamilies(prefix: string): MetricFamily[] {
    const names = RESILIENCE4J_NAMES;
    const perBreaker = (read: (counts: WindowCounts, minimumCalls: number) => Sample[]) => () => {
      const samples: Sample[] = [];
      const now = Date.now();
      for (const breaker of this.#statusBreakers()) {
        for (const sample of read(windowCounts(breaker, now), breaker.policy.minimumCalls)) {
          samples.push({ labels: { name: breaker.name, ...sample.labels }, value: sample.value });
        }
      }
      return samples;
    };
    const rate = (part: number, total: number, minimumCalls: number) =>
      total === 0 || total < minimumCalls ? -1 : (part / total) * 100;
    return [
      new MetricFamily(
        prefix + names.failureRate,
        'The failure rate of the circuit breaker, in percent (-1 until the window holds minimumCalls)',
        'gauge',
        perBreaker((counts, minimumCalls) => [
          { labels: {}, value: rate(counts.failed, counts.calls, minimumCalls) },
        ]),
        undefined,
        'max',
      ),
      new MetricFamily(
        prefix + names.slowCallRate,
        'The slow call rate of the circuit breaker, in percent (-1 until the window holds minimumCalls)',
        'gauge',
        perBreaker((counts, minimumCalls) => [
          { labels: {}, value: rate(counts.slowSuccessful + counts.slowFailed, counts.calls, minimumCalls) },
        ]),
        undefined,
        'max',
      ),
      new MetricFamily(
        prefix + names.bufferedCalls,
        'The number of calls in the sliding window, by kind',
        'gauge',
        perBreaker((counts) => [
          { labels: { kind: 'successful' }, value: counts.calls - counts.failed },
          { labels: { kind: 'failed' }, value: counts.failed },
        ]),
        undefined,
        'max',
      ),
      new MetricFamily(
        prefix + names.slowCalls,
        'The number of slow calls in the sliding window, by kind',
        'gauge',
        perBreaker((counts) => [
          { labels: { kind: 'successful' }, value: counts.slowSuccessful },
          { labels: { kind: 'failed' }, value: counts.slowFailed },
        ]),
        undefined,
        'max',
      ),
    ];
  }

  #sharedFamilies(prefix: string): MetricFamily[] {
    const names = METRIC_NAMES;
    const live =
      <T>(read: (registry: CircuitBreakerRegistry) => T, samples: (value: T) => Sample[]) =>
      () => {
        const registry = this.#registry;
        return registry === null ? [] : samples(read(registry));
      };
    return [
      new MetricFamily(
        prefix + names.storeMode,
        'Where store operations go now, one-hot: redis, or the in-memory mirror while Redis is unavailable',
        'gauge',
        live(
          (registry) => registry.stateManager.redisAvailable,
          (redis) => [
            { labels: { mode: 'redis' }, value: redis ? 1 : 0 },
            { labels: { mode: 'memory' }, value: redis ? 0 : 1 },
          ],
        ),
        undefined,
        'max',
      ),
      new MetricFamily(
        prefix + names.storeOperationDuration,
        'How long state store operations took, in seconds, by operation and where they were served',
        'histogram',
        () => {
          const samples: Sample[] = [];
          for (const entry of this.#storeOperations.values()) {
            histogramSamples(prefix + names.storeOperationDuration, entry.labels, entry.data, samples);
          }
          return samples;
        },
        () => {
          for (const entry of this.#storeOperations.values()) entry.data.reset();
        },
      ),
      new MetricFamily(
        prefix + names.reconciliations,
        'Reconciliations of the in-memory mirror into Redis, by trigger and result (failure: circuits left pending)',
        'counter',
        () => this.#reconciliations.samples([]),
        () => this.#reconciliations.reset(),
      ),
      new MetricFamily(
        prefix + names.reconciledCircuits,
        'Circuits handled by reconciliations, by result (merged, conflicting, reseeded, failed)',
        'counter',
        () => this.#reconciledCircuits.samples([]),
        () => this.#reconciledCircuits.reset(),
      ),
      new MetricFamily(
        prefix + names.propagationDelay,
        'Time from a transition in Redis to this instance hearing of it, in seconds (Redis time)',
        'histogram',
        () => {
          const samples: Sample[] = [];
          if (this.#propagation.count > 0 || this.#registry !== null) {
            histogramSamples(prefix + names.propagationDelay, {}, this.#propagation, samples);
          }
          return samples;
        },
        () => this.#propagation.reset(),
      ),
      new MetricFamily(
        prefix + names.redisConnected,
        'Whether Redis is connected (1) or not (0)',
        'gauge',
        live(
          (registry) => registry.redis?.isConnected === true,
          (connected) => [{ labels: {}, value: connected ? 1 : 0 }],
        ),
        undefined,
        'max',
      ),
      new MetricFamily(
        prefix + names.fallbackStatesActive,
        'Circuits changed in memory while Redis was unavailable and not yet reconciled into Redis',
        'gauge',
        live(
          (registry) => registry.stateManager.getFallbackStatus().fallbackStatesCount,
          (count) => [{ labels: {}, value: count }],
        ),
        undefined,
        'max',
      ),
      new MetricFamily(
        prefix + names.statePersistenceFailures,
        'State changes that reached only the in-memory mirror (Redis unavailable), by circuit and operation',
        'counter',
        () => this.#persistenceFailures.samples([]),
        () => this.#persistenceFailures.reset(),
      ),
    ];
  }
}

/** Sums histograms of the same buckets into one (resilience4j's `failed` = failures and timeouts). */
function combine(parts: readonly HistogramData[], buckets: readonly number[]): HistogramData {
  if (parts.length === 1) return parts[0] as HistogramData;
  const total = new HistogramData(buckets);
  for (const part of parts) {
    for (let index = 0; index < part.counts.length; index += 1) {
      total.counts[index] = (total.counts[index] as number) + (part.counts[index] as number);
    }
    total.sum += part.sum;
    total.count += part.count;
  }
  return total;
}

interface WindowCounts {
  calls: number;
  failed: number;
  slowSuccessful: number;
  slowFailed: number;
}

/** The calls a breaker's view of its sliding window holds (time buckets older than the window dropped). */
function windowCounts(breaker: CircuitBreaker<unknown>, now: number): WindowCounts {
  const counts: WindowCounts = { calls: 0, failed: 0, slowSuccessful: 0, slowFailed: 0 };
  const window = breaker.stateData.window;
  if (window.kind === 'count') {
    for (const code of window.outcomes) {
      counts.calls += 1;
      if (code === 'f') counts.failed += 1;
      else if (code === 'F') {
        counts.failed += 1;
        counts.slowFailed += 1;
      } else if (code === 'S') counts.slowSuccessful += 1;
    }
  } else if (window.kind === 'time') {
    const policyWindow = breaker.policy.slidingWindow;
    const durationMs = policyWindow?.type === 'time' ? policyWindow.durationMs : Number.POSITIVE_INFINITY;
    for (const bucket of window.buckets) {
      if (bucket.start <= now - durationMs) continue;
      counts.calls += bucket.calls;
      counts.failed += bucket.failures;
      // A time bucket counts slow calls without telling successes from failures: all go to `successful`.
      counts.slowSuccessful += bucket.slow;
    }
  }
  return counts;
}

/**
 * Creates {@link PrometheusMetrics} in your prom-client registry.
 * @throws {TypeError | RangeError} an option is invalid, naming it and the value.
 * @example
 * ```ts
 * import { Registry } from 'prom-client';
 * import { createPrometheusMetrics } from '@xnai/cb-prometheus';
 *
 * const register = new Registry();
 * const metrics = createPrometheusMetrics({ register });
 * metrics.bindRegistry(circuitBreakerRegistry);
 * app.get('/metrics', async (_request, response) => {
 *   response.type(register.contentType).send(await register.metrics());
 * });
 * ```
 */
export function createPrometheusMetrics(options: PrometheusMetricsOptions): PrometheusMetrics {
  return new PrometheusMetrics(options);
}

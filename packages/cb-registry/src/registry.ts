import {
  assertFunction,
  assertInteger,
  assertObject,
  assertOneOf,
  type CallEvent,
  CallGroup,
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitOverride,
  type CircuitPolicyOptions,
  type CircuitState,
  type CircuitStateData,
  type CircuitStatus,
  type Clock,
  ClosedError,
  type Disposable,
  Listeners,
  type OutcomeKind,
  type OverrideOptions,
  resolvePolicy,
  type StateChangeEvent,
  StoreUnavailableError,
  type TimerProvider,
  toDisposable,
  validateCircuitName,
} from '@xnai/cb-core';
import type {
  FallbackReason,
  RedisAuthenticationError,
  RedisConnectionManager,
  RedisHealthStatus,
} from '@xnai/cb-redis-connection';
import { assertBoolean, assertClock, createOptionsReader } from '@xnai/kit';
import { CircuitAlreadyRegisteredError } from './errors/circuit-already-registered-error.js';
import { CircuitNotRegisteredError } from './errors/circuit-not-registered-error.js';
import {
  CircuitBreakerStateManager,
  type CircuitBreakerStateManagerOptions,
  DEFAULT_CIRCUIT_BREAKER_STATE_MANAGER_OPTIONS,
  type FallbackStatus,
  type ReconciledEvent,
  type ReconcileTrigger,
  type StoreOperationEvent,
} from './state-manager.js';

/** What a breaker does with calls while Redis is unavailable. */
export type RedisOutagePolicy = 'fallback' | 'fail-open' | 'fail-closed';

/**
 * A circuit's configuration (the seed's `CircuitBreakerConfig`): the policy of `@xnai/cb-core` with
 * the seed's defaults (`failureThreshold` 5, `successThreshold` 2, `openTimeoutMs` 60 s,
 * `maxOpenTimeoutMs` 300 s), the breaker's call options, and what a Redis outage means for it.
 */
export interface CircuitBreakerConfig extends CircuitPolicyOptions {
  /**
   * Per-call timeout; the call's AbortSignal is aborted on expiry and the call counts as a failure.
   * @default null (none)
   */
  readonly callTimeoutMs?: number | null;
  /** @default every error is a `failure` */
  readonly classifyError?: (error: unknown) => OutcomeKind;
  /** @default every value is a `success` */
  readonly classifyResult?: (value: unknown) => OutcomeKind;
  /** @default 1000 for sliding windows */
  readonly recordIntervalMs?: number;
  /** @default 5000 */
  readonly refreshIntervalMs?: number;
  /** @default Math.random */
  readonly random?: () => number;
  /**
   * While Redis is unavailable: `fallback` keeps protecting calls with the in-memory mirror,
   * `fail-open` runs calls without the breaker, `fail-closed` rejects them with
   * `StoreUnavailableError` (handed to the fallback function when there is one).
   * @default 'fallback'
   */
  readonly onRedisUnavailable?: RedisOutagePolicy;
}

/** The seed's `fallback_func`: called instead of throwing when a call is rejected or fails. */
export type FallbackFunction<TFallback> = (error: unknown) => TFallback | PromiseLike<TFallback>;

/**
 * Options of {@link CircuitBreakerRegistry}: those of the {@link CircuitBreakerStateManager} it runs
 * its breakers on (connection manager, key prefix, channel, TTL, state check, time source, clock),
 * plus its own. When the connection manager has not connected yet, the registry connects it.
 */
export interface CircuitBreakerRegistryOptions extends CircuitBreakerStateManagerOptions {
  /**
   * `cleanup()` disconnects the connection manager (the seed's "closes Redis connection").
   * @default true
   */
  readonly closeRedisOnCleanup?: boolean;
  /**
   * How long `cleanup()` waits for calls in flight to settle before it aborts the signal their `fn`
   * received. `cleanup()` does not wait longer for an `fn` that ignores the signal: its outcome,
   * whenever it comes, counts for nothing.
   * @default 5000
   */
  readonly cleanupGraceMs?: number;
  /**
   * Where the registry logs what an operator should hear of: a warning for each change that reached
   * only memory (the seed's "state stored in fallback only"), fallback entered and left,
   * reconciliations. Nothing is logged without one.
   * @default null
   */
  readonly logger?: RegistryLogger | null;
}

/** A logger the registry writes to; `console` fits, as do pino and winston instances. */
export interface RegistryLogger {
  /** Redis back after a fallback; circuits reconciled into Redis. */
  info(message: string, details?: Record<string, unknown>): void;
  /** Fallback entered; a change stored in memory only. */
  warn(message: string, details?: Record<string, unknown>): void;
  /** A reconciliation that left circuits pending. */
  error(message: string, details?: Record<string, unknown>): void;
}

/** One circuit in {@link RegistryStatus}. */
export interface CircuitStatusSummary {
  /** What callers see now: the state, or the override in force. */
  readonly status: CircuitStatus;
  /** The state machine's state, overrides aside. */
  readonly state: CircuitState;
  /** Consecutive failures since the last recorded success. */
  readonly failureCount: number;
  /** Consecutive recorded successes since the last failure. */
  readonly successCount: number;
  /** Epoch ms of the last recorded failure; `0`: never. */
  readonly lastFailureTime: number;
  /** Epoch ms of the last recorded success; `0`: never. */
  readonly lastSuccessTime: number;
  /** Epoch ms of the last change of `state`; `0`: never. */
  readonly lastStateChange: number;
  /** Epoch ms at which an open circuit may move to half-open; `0` when not open. */
  readonly openUntil: number;
  /** The manual override, or `null`. */
  readonly override: CircuitOverride | null;
  /** The circuit's outage policy, as configured (`fallback`, `fail-open` or `fail-closed`). */
  readonly onRedisUnavailable: RedisOutagePolicy;
}

/** The seed's `get_registry_status()`, camelCased, plus each circuit's state and counts. */
export interface RegistryStatus {
  /** `true` for a memory-only registry (`redis: null`). */
  readonly memoryOnly: boolean;
  /**
   * The connection manager's health: the seed's `connected`, `fallbackMode`, `poolSize` and more;
   * `null` for a memory-only registry.
   */
  readonly redisStatus: RedisHealthStatus | null;
  /** The seed's fallback status: circuits changed in memory only, and the mirror's size. */
  readonly fallbackStatus: FallbackStatus;
  /** Names of the registered circuits, in registration order. */
  readonly registeredCircuits: readonly string[];
  /** How many circuits are registered. */
  readonly totalCircuits: number;
  /** Each registered circuit's status, by name. */
  readonly circuits: Readonly<Record<string, CircuitStatusSummary>>;
}

/** Registry-wide events, one discriminated union. */
export type RegistryEvent =
  | ({ readonly type: 'state_change' } & StateChangeEvent)
  | { readonly type: 'fallback_entered'; readonly reason: FallbackReason; readonly at: number }
  | { readonly type: 'recovered'; readonly fallbackDurationMs: number; readonly at: number }
  /**
   * Redis refused the credentials (on connect or on a reconnect): an operator must fix the password
   * or ACL. The manager retries with backoff; circuits run on the mirror meanwhile. Redacted.
   */
  | { readonly type: 'authentication_failed'; readonly error: RedisAuthenticationError; readonly at: number }
  | ({ readonly type: 'reconciled' } & ReconciledEvent)
  /** A change was served by the warm mirror only; it is merged into Redis when Redis is back. */
  | {
      readonly type: 'fallback_write';
      readonly name: string;
      readonly operation: StoreOperationEvent['operation'];
      readonly at: number;
    };

export type { ReconcileTrigger };

/** Options of one protected call. */
export interface CallOptions {
  /**
   * Aborting it abandons the call (the outcome is ignored).
   * @default none (the registry's own signal, aborted by `cleanup()` after its grace period)
   */
  readonly signal?: AbortSignal;
}

/** Everything that makes two registrations the same breaker, resolved with defaults. */
interface Signature extends Readonly<Record<string, unknown>> {
  readonly onRedisUnavailable: RedisOutagePolicy;
  readonly fallback: FallbackFunction<unknown> | null;
}

/** A registered circuit; its outage policy and fallback function are read from its signature. */
interface Entry {
  readonly breaker: CircuitBreaker<unknown>;
  readonly signature: Signature;
}

/** The registry's own options, on top of the state manager's. */
export const REGISTRY_OWN_OPTION_NAMES = ['closeRedisOnCleanup', 'cleanupGraceMs', 'logger'] as const;

/**
 * The defaults of {@link CircuitBreakerRegistryOptions}, frozen: the state manager's
 * ({@link DEFAULT_CIRCUIT_BREAKER_STATE_MANAGER_OPTIONS}) and the registry's own. `redis` has none,
 * and `channel` defaults to `${keyPrefix}events`.
 */
export const DEFAULT_CIRCUIT_BREAKER_REGISTRY_OPTIONS: Readonly<
  Required<Omit<CircuitBreakerRegistryOptions, 'redis' | 'channel'>>
> = Object.freeze({
  ...DEFAULT_CIRCUIT_BREAKER_STATE_MANAGER_OPTIONS,
  closeRedisOnCleanup: true,
  cleanupGraceMs: 5_000,
  logger: null,
});

const readOptions = createOptionsReader(DEFAULT_CIRCUIT_BREAKER_REGISTRY_OPTIONS, {
  extraKeys: ['redis', 'channel'],
});
const CONFIG_OPTION_NAMES = [
  'callTimeoutMs',
  'classifyError',
  'classifyResult',
  'recordIntervalMs',
  'refreshIntervalMs',
  'random',
  'onRedisUnavailable',
] as const;
const noop = (): void => undefined;

/** The signature of a registration (`onRedisUnavailable` already validated). */
function signatureOf(config: CircuitBreakerConfig, fallback: FallbackFunction<unknown> | null): Signature {
  const callTimeoutMs = config.callTimeoutMs ?? null;
  const policyOptions: Record<string, unknown> = { ...config };
  for (const key of CONFIG_OPTION_NAMES) delete policyOptions[key];
  const policy = resolvePolicy(policyOptions as CircuitPolicyOptions, callTimeoutMs ?? 0);
  return {
    ...policy,
    callTimeoutMs,
    classifyError: config.classifyError ?? null,
    classifyResult: config.classifyResult ?? null,
    recordIntervalMs: config.recordIntervalMs ?? null,
    refreshIntervalMs: config.refreshIntervalMs ?? null,
    random: config.random ?? null,
    onRedisUnavailable: config.onRedisUnavailable ?? 'fallback',
    fallback,
  };
}

/** Structural equality; functions by identity. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  return keysA.every((key) =>
    sameValue((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
  );
}

/** The first key whose value differs between two signatures (which have the same keys), if any. */
function differingKey(
  signature: Readonly<Record<string, unknown>>,
  other: Readonly<Record<string, unknown>>,
): string | undefined {
  return Object.keys(signature).find((key) => !sameValue(signature[key], other[key]));
}

/**
 * The seed's `CircuitBreakerRegistry`: every circuit breaker of a service, on one
 * {@link CircuitBreakerStateManager} (Redis with a warm in-memory fallback).
 *
 * @example
 * ```ts
 * const registry = new CircuitBreakerRegistry({ redis: new RedisConnectionManager({ host: 'redis' }) });
 * registry.registerCircuitBreaker('external_api', { failureThreshold: 5 }, () => ({ fallback: true }));
 * const data = await registry.callWithCircuitBreaker('external_api', (signal) => fetch(url, { signal }));
 * ```
 */
export class CircuitBreakerRegistry implements AsyncDisposable {
  /** The state manager every breaker of this registry runs on. */
  readonly stateManager: CircuitBreakerStateManager;
  readonly #manager: RedisConnectionManager | null;
  readonly #clock: Clock & TimerProvider;
  readonly #entries = new Map<string, Entry>();
  readonly #events = new Listeners<RegistryEvent>();
  /** Listeners of every breaker's calls; breakers report to it only while it has any. */
  readonly #callListeners = new Listeners<CallEvent>();
  readonly #callRelays = new Map<string, Disposable>();
  readonly #subscriptions: Array<{ dispose(): void }> = [];
  /** Every breaker's signal: `cleanup()` aborts it once its grace period is over. */
  readonly #abort = new AbortController();
  /** The calls in flight through every breaker of the registry (counted by the breakers). */
  readonly #calls = CallGroup.of(this.#abort.signal);
  readonly #cleanupTasks = new Set<() => void>();
  /**
   * Every breaker's state changes, relayed as registry events: one listener function for all of
   * them rather than a closure (and its context) per circuit.
   */
  /** Until cleanup() aborted the calls: what breakers do while they close is not relayed. */
  #relaying = true;
  readonly #relayStateChange = (event: StateChangeEvent): void => {
    // Given to every breaker as its `onStateChange` (kept in the settings they share): a breaker
    // being removed may still change while it closes, and is not a registered circuit any more.
    if (!this.#relaying || !this.#entries.has(event.name)) return;
    this.#events.emit({ type: 'state_change', ...event });
  };
  /**
   * The signature of the last registration: the next one with the same configuration (the common
   * case) holds this object instead of a copy of its own.
   */
  #lastSignature: Signature | null = null;
  readonly #closeRedisOnCleanup: boolean;
  readonly #cleanupGraceMs: number;
  #cleanup: Promise<void> | null = null;

  /** @throws {TypeError | RangeError} an option is invalid, naming it and the value. */
  constructor(options: CircuitBreakerRegistryOptions) {
    const given = readOptions(options);
    this.#closeRedisOnCleanup = assertBoolean('closeRedisOnCleanup', given.closeRedisOnCleanup);
    this.#cleanupGraceMs = assertInteger('cleanupGraceMs', given.cleanupGraceMs, 0, 600_000);
    this.#clock = assertClock('clock', given.clock);
    const manager = options.redis;
    // Connect before the state manager exists, so that it sees `connecting` and reconciles on success.
    if (typeof manager === 'object' && manager !== null && manager.mode === 'idle') {
      manager.connect().catch(noop);
    }
    const logger = given.logger as RegistryLogger | null;
    if (
      logger !== null &&
      (typeof logger !== 'object' ||
        typeof logger.info !== 'function' ||
        typeof logger.warn !== 'function' ||
        typeof logger.error !== 'function')
    ) {
      throw new TypeError('logger must have info, warn and error functions');
    }
    const {
      closeRedisOnCleanup: _close,
      cleanupGraceMs: _grace,
      logger: _logger,
      ...stateManagerOptions
    } = options;
    this.stateManager = new CircuitBreakerStateManager({ ...stateManagerOptions, clock: this.#clock });
    this.#manager = manager ?? null;
    if (logger !== null) {
      this.#events.add((event) => logEvent(logger, event));
    }
    const fromGlobal = (disposable: globalThis.Disposable) =>
      toDisposable(() => disposable[Symbol.dispose]());
    if (manager !== null && manager !== undefined) {
      this.#subscriptions.push(
        fromGlobal(
          manager.onFallbackEntered(({ reason, at }) =>
            this.#events.emit({ type: 'fallback_entered', reason, at }),
          ),
        ),
        fromGlobal(
          manager.onRecovered(({ fallbackDurationMs, at }) =>
            this.#events.emit({ type: 'recovered', fallbackDurationMs, at }),
          ),
        ),
        fromGlobal(
          manager.onAuthenticationFailed(({ error, at }) =>
            this.#events.emit({ type: 'authentication_failed', error, at }),
          ),
        ),
      );
    }
    this.#subscriptions.push(
      this.stateManager.onReconciled((event) => this.#events.emit({ type: 'reconciled', ...event })),
      this.stateManager.onOperation((event) => {
        if (event.memoryOnly) {
          this.#events.emit({
            type: 'fallback_write',
            name: event.name,
            operation: event.operation,
            at: this.stateManager.clock.now(),
          });
        }
      }),
    );
  }

  /** The connection manager (the seed's `redis_mgr`); `null` for a memory-only registry. */
  get redis(): RedisConnectionManager | null {
    return this.#manager;
  }

  /**
   * `true` for a registry made with `redis: null`: every circuit lives in this process, nothing
   * connects anywhere, and no fallback or reconciliation is ever reported.
   */
  get memoryOnly(): boolean {
    return this.#manager === null;
  }

  #assertOpen(): void {
    if (this.#cleanup !== null) throw new ClosedError('CircuitBreakerRegistry');
  }

  /**
   * Registers a circuit breaker (the seed's `register_circuit_breaker`). Registering a name again
   * with the same configuration (policy and options compared structurally, functions by identity)
   * returns the same breaker.
   * @throws {CircuitAlreadyRegisteredError} the name is registered with another configuration.
   * @throws {InvalidCircuitNameError} the name is invalid.
   * @throws {TypeError | RangeError} an option is invalid, naming it and the value.
   */
  registerCircuitBreaker<TFallback = never>(
    name: string,
    config: CircuitBreakerConfig = {},
    fallback?: FallbackFunction<TFallback> | null,
  ): CircuitBreaker<TFallback> {
    this.#assertOpen();
    validateCircuitName(name);
    assertObject('config', config);
    const outagePolicy = assertOneOf('onRedisUnavailable', config.onRedisUnavailable ?? 'fallback', [
      'fallback',
      'fail-open',
      'fail-closed',
    ] as const);
    if (fallback != null) assertFunction('fallback', fallback);
    const signature = this.#shareSignature(
      signatureOf(config, (fallback ?? null) as FallbackFunction<unknown> | null),
    );
    const existing = this.#entries.get(name);
    if (existing !== undefined) {
      const differing = differingKey(signature, existing.signature);
      if (differing !== undefined) throw new CircuitAlreadyRegisteredError(name, differing);
      return existing.breaker as CircuitBreaker<TFallback>;
    }
    const { onRedisUnavailable: _ignored, ...breakerConfig } = config;
    const breaker = new CircuitBreaker<TFallback>({
      ...(breakerConfig as Omit<CircuitBreakerOptions<TFallback>, 'name' | 'store'>),
      name,
      store: this.stateManager,
      clock: this.#clock,
      ...(fallback == null ? {} : { fallback }),
      // The state manager never fails: it falls back to memory. Kept for a closed registry.
      onStoreFailure: outagePolicy === 'fail-closed' ? 'fail-closed' : 'fail-open',
      // cleanup() waits on the calls in flight under this one signal and aborts it after its grace
      // period: one listener for the whole registry, an in-flight count per call (benchmark row
      // `call.registry`), never a listener or an AbortSignal.any per call.
      signal: this.#abort.signal,
      // One relay for every circuit, in the settings they share: no listener list per circuit.
      onStateChange: this.#relayStateChange,
    });
    if (this.#callListeners.size > 0) this.#relayCalls(name, breaker as CircuitBreaker<unknown>);
    this.#entries.set(name, { breaker: breaker as CircuitBreaker<unknown>, signature });
    // Load the view and subscribe now, so status and pushed changes are current before the first call.
    breaker.refresh().catch(noop);
    return breaker;
  }

  /** The last registration's signature when `signature` equals it, else `signature`, remembered. */
  #shareSignature(signature: Signature): Signature {
    const last = this.#lastSignature;
    if (last !== null && differingKey(signature, last) === undefined) return last;
    this.#lastSignature = Object.freeze(signature);
    return this.#lastSignature;
  }

  /** Same as {@link registerCircuitBreaker}. */
  register<TFallback = never>(
    name: string,
    config?: CircuitBreakerConfig,
    fallback?: FallbackFunction<TFallback> | null,
  ): CircuitBreaker<TFallback> {
    return this.registerCircuitBreaker(name, config, fallback);
  }

  /** The registered breaker, or `undefined`. */
  get(name: string): CircuitBreaker<unknown> | undefined {
    return this.#entries.get(name)?.breaker;
  }

  /** Names of the registered circuits, in registration order. */
  list(): string[] {
    return [...this.#entries.keys()];
  }

  /**
   * Unregisters a breaker and closes it (its stored state stays: other instances may use it).
   * @returns whether it was registered.
   */
  async remove(name: string): Promise<boolean> {
    const entry = this.#entries.get(name);
    if (entry === undefined) return false;
    this.#entries.delete(name);
    this.#callRelays.get(name)?.dispose();
    this.#callRelays.delete(name);
    await entry.breaker.close();
    return true;
  }

  #entry(name: string): Entry {
    const entry = this.#entries.get(name);
    if (entry === undefined) throw new CircuitNotRegisteredError(name);
    return entry;
  }

  /**
   * Runs `fn` through the named breaker (the seed's `call_with_circuit_breaker`). When the call is
   * rejected or fails and the breaker has a fallback function, its result is returned instead.
   * @throws {CircuitNotRegisteredError} no breaker of that name is registered.
   * @throws {CircuitOpenError} the circuit is open and there is no fallback function.
   * @throws {StoreUnavailableError} Redis is unavailable and the circuit is `fail-closed`.
   * @throws {ClosedError} `cleanup()` was called.
   */
  callWithCircuitBreaker<T, TFallback = never>(
    name: string,
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    options: CallOptions = {},
  ): Promise<Awaited<T> | TFallback> {
    if (this.#cleanup !== null) return Promise.reject(new ClosedError('CircuitBreakerRegistry'));
    let entry: Entry;
    try {
      entry = this.#entry(name);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#dispatch(entry, fn, options.signal) as Promise<Awaited<T> | TFallback>;
  }

  #dispatch<T>(
    entry: Entry,
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const { onRedisUnavailable: outagePolicy, fallback } = entry.signature;
    if (outagePolicy !== 'fallback' && !this.stateManager.redisAvailable) {
      // Without the breaker, uncounted, but through the same call path (signals, timeout, events).
      if (outagePolicy === 'fail-open') {
        return signal === undefined
          ? entry.breaker.executeUncounted(fn)
          : entry.breaker.executeUncounted(fn, { signal });
      }
      const error = new StoreUnavailableError(
        `Circuit "${entry.breaker.name}" is fail-closed and Redis is unavailable`,
      );
      if (fallback === null) return Promise.reject(error);
      // Not a breaker call, but a call in flight all the same: cleanup() lets it settle.
      const calls = this.#calls;
      calls.enter();
      const served = Promise.resolve().then(() => fallback(error));
      served.then(
        () => calls.leave(),
        () => calls.leave(),
      );
      return served;
    }
    return signal === undefined ? entry.breaker.execute(fn) : entry.breaker.execute(fn, { signal });
  }

  /** Forces the circuit open across every instance until cleared, reset or `durationMs`. */
  forceOpen(name: string, options: OverrideOptions = {}): Promise<CircuitStateData> {
    return this.#entry(name).breaker.forceOpen(options);
  }

  /** Forces the circuit closed (calls pass, nothing is counted) across every instance. */
  forceClosed(name: string, options: OverrideOptions = {}): Promise<CircuitStateData> {
    return this.#entry(name).breaker.forceClosed(options);
  }

  /** Removes a manual override across every instance. */
  clearOverride(name: string): Promise<CircuitStateData> {
    return this.#entry(name).breaker.clearOverride();
  }

  /** Closes the circuit and clears counters, backoff, probes and any override, across every instance. */
  reset(name: string): Promise<CircuitStateData> {
    return this.#entry(name).breaker.reset();
  }

  /** The seed's `get_registry_status()`, plus each circuit's state and counts. */
  async getRegistryStatus(): Promise<RegistryStatus> {
    const redisStatus = this.#manager === null ? null : await this.#manager.getHealthStatus();
    const circuits: Record<string, CircuitStatusSummary> = {};
    for (const [name, entry] of this.#entries) {
      const data = entry.breaker.stateData;
      circuits[name] = {
        status: entry.breaker.status,
        state: data.state,
        failureCount: data.failureCount,
        successCount: data.successCount,
        lastFailureTime: data.lastFailureTime,
        lastSuccessTime: data.lastSuccessTime,
        lastStateChange: data.lastStateChange,
        openUntil: data.openUntil,
        override: data.override,
        onRedisUnavailable: entry.signature.onRedisUnavailable,
      };
    }
    const registeredCircuits = this.list();
    return {
      memoryOnly: this.#manager === null,
      redisStatus,
      fallbackStatus: this.stateManager.getFallbackStatus(),
      registeredCircuits,
      totalCircuits: registeredCircuits.length,
      circuits,
    };
  }

  /** Listens for registry-wide events: state changes, fallback entered, recovered, reconciled, fallback writes. */
  onEvent(listener: (event: RegistryEvent) => void): Disposable {
    return this.#events.add(listener);
  }

  /**
   * Listens for every call of every breaker of this registry, present and future (the breakers'
   * `onCall` events: success, failure, timeout, ignored, rejected, fallback, each with its duration).
   * While nobody listens, breakers measure nothing for it.
   */
  onCall(listener: (event: CallEvent) => void): Disposable {
    const subscription = this.#callListeners.add(listener);
    if (this.#callListeners.size === 1) {
      for (const [name, entry] of this.#entries) this.#relayCalls(name, entry.breaker);
    }
    return toDisposable(() => {
      subscription.dispose();
      if (this.#callListeners.size > 0) return;
      for (const relay of this.#callRelays.values()) relay.dispose();
      this.#callRelays.clear();
    });
  }

  #relayCalls(name: string, breaker: CircuitBreaker<unknown>): void {
    if (this.#callRelays.has(name)) return;
    this.#callRelays.set(
      name,
      breaker.onCall((event) => this.#callListeners.emit(event)),
    );
  }

  /** Runs `task` when `cleanup()` starts (helpers use it to stop their loops). */
  onCleanup(task: () => void): Disposable {
    if (this.#cleanup !== null) {
      task();
      return toDisposable(noop);
    }
    this.#cleanupTasks.add(task);
    return toDisposable(() => this.#cleanupTasks.delete(task));
  }

  /** Calls currently running through the registry. */
  get inFlightCalls(): number {
    return this.#calls.size;
  }

  /** `true` once `cleanup()` was called. */
  get closed(): boolean {
    return this.#cleanup !== null;
  }

  /**
   * The seed's `cleanup()`: stops taking calls, lets calls in flight settle (for up to
   * `cleanupGraceMs`, then aborts their signal and goes on), stops helper loops, expires old in-memory states, closes every breaker and
   * the state manager, and disconnects Redis (unless `closeRedisOnCleanup` is false). Idempotent;
   * afterwards nothing of the registry keeps the process alive.
   */
  cleanup(): Promise<void> {
    this.#cleanup ??= this.#runCleanup();
    return this.#cleanup;
  }

  async #runCleanup(): Promise<void> {
    for (const task of [...this.#cleanupTasks]) {
      try {
        task();
      } catch {
        // A helper that fails to stop must not keep the registry open.
      }
    }
    this.#cleanupTasks.clear();
    if (this.#calls.size > 0) {
      let timer: unknown;
      const grace = new Promise<void>((resolve) => {
        timer = this.#clock.setTimeout(resolve, this.#cleanupGraceMs);
      });
      await Promise.race([this.#calls.whenIdle(), grace]);
      this.#clock.clearTimeout(timer);
    }
    // Calls still waiting for the store, or under a timeout, settle at once with a ClosedError; a
    // running `fn` was handed this signal (unless its call had its own) and its outcome, whenever it
    // comes, counts for nothing. cleanup() does not wait for an `fn` that ignores its signal.
    this.#abort.abort(new ClosedError('CircuitBreakerRegistry'));
    this.#relaying = false;
    this.stateManager.cleanupExpiredStates();
    await Promise.all([...this.#entries.values()].map((entry) => entry.breaker.close()));
    await this.stateManager.close();
    for (const subscription of this.#subscriptions.splice(0)) subscription.dispose();
    this.#events.clear();
    if (this.#closeRedisOnCleanup) await this.#manager?.disconnect();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.cleanup();
  }
}

/** What the registry tells its logger of each event. */
function logEvent(logger: RegistryLogger, event: RegistryEvent): void {
  switch (event.type) {
    case 'fallback_write':
      logger.warn(
        `State of circuit "${event.name}" stored in fallback only (${event.operation}); merged when Redis is back`,
        {
          circuit: event.name,
          operation: event.operation,
        },
      );
      return;
    case 'fallback_entered':
      logger.warn(`Redis unavailable (${event.reason}): circuits run on the in-memory mirror`, {
        reason: event.reason,
      });
      return;
    case 'authentication_failed':
      logger.error(`Redis refused the credentials: ${event.error.message}; retrying with backoff`, {
        code: event.error.code,
      });
      return;
    case 'recovered':
      logger.info(`Redis back after ${Math.round(event.fallbackDurationMs)} ms of fallback`, {
        fallbackDurationMs: event.fallbackDurationMs,
      });
      return;
    case 'reconciled': {
      const details = {
        trigger: event.trigger,
        merged: event.merged,
        conflicting: event.conflicting,
        reseeded: event.reseeded,
        failed: event.failed,
        checked: event.checked,
      };
      if (event.failed > 0) logger.error(`Reconciliation left ${event.failed} circuit(s) pending`, details);
      else if (event.merged > 0) logger.info(`Reconciled ${event.merged} circuit(s) into Redis`, details);
      return;
    }
    case 'state_change':
      return;
    default:
      assertNeverEvent(event);
  }
}

function assertNeverEvent(event: never): never {
  throw new Error(`unexpected registry event ${JSON.stringify(event)}`);
}

import {
  type AcquireRequest,
  type AcquireResult,
  assertInteger,
  assertKnownKeys,
  assertObject,
  assertRecordedOutcomes,
  assertStateData,
  ChangeListeners,
  type CircuitEvent,
  type CircuitPolicy,
  type CircuitStateChange,
  type CircuitStateData,
  type CircuitStateStore,
  type Clock,
  ClosedError,
  type Disposable,
  JITTER_SCALE,
  type OverrideRequest,
  type RecordedOutcomes,
  type SubscribeOptions,
  systemClock,
  type TimerHandle,
  type TimerProvider,
  transition,
  validateCircuitName,
} from '@xnai/cb-core';
import { Mutex } from 'async-mutex';

export interface MemoryStateStoreOptions {
  /**
   * How long a circuit's state is kept after its last write (the seed's one-hour TTL).
   * @default 3_600_000
   */
  readonly ttlMs?: number;
  /**
   * Runs {@link MemoryStateStore.cleanupExpiredStates} on this interval (an unref'd timer).
   * `null` runs it only when called; expired states are invisible to reads either way.
   * @default null
   */
  readonly cleanupIntervalMs?: number | null;
  /**
   * Clock and timers.
   * @default systemClock
   */
  readonly clock?: Clock & TimerProvider;
}

/** Fallback-status shape of the seed (`get_fallback_status`). */
export interface MemoryStoreStatus {
  readonly statesCount: number;
  readonly states: readonly string[];
}

interface Entry {
  data: CircuitStateData;
  expiresAt: number;
}

const OPTION_NAMES = new Set(['ttlMs', 'cleanupIntervalMs', 'clock']);

/**
 * Circuit state in this process: a `Map` of circuits, each changed under its own mutex, expiring a
 * TTL after its last write. Implements the {@link CircuitStateStore} contract with the same
 * transition function every store uses.
 *
 * @example
 * ```ts
 * const store = createMemoryStateStore({ ttlMs: 3_600_000, cleanupIntervalMs: 60_000 });
 * const breaker = createCircuitBreaker({ name: 'search', store });
 * ```
 */
export class MemoryStateStore implements CircuitStateStore, AsyncDisposable {
  readonly specificationVersion = 'v1' as const;
  readonly local = true;
  readonly ttlMs: number;
  readonly #clock: Clock & TimerProvider;
  readonly #entries = new Map<string, Entry>();
  readonly #mutexes = new Map<string, Mutex>();
  readonly #listeners = new ChangeListeners();
  #cleanupTimer: TimerHandle | null = null;
  readonly #cleanupIntervalMs: number | null;
  #closed = false;

  /** @throws {TypeError | RangeError} an option is invalid. */
  constructor(options: MemoryStateStoreOptions = {}) {
    assertKnownKeys('options', assertObject('options', options), OPTION_NAMES);
    this.ttlMs = assertInteger('ttlMs', options.ttlMs ?? 3_600_000, 1);
    this.#cleanupIntervalMs =
      options.cleanupIntervalMs == null
        ? null
        : assertInteger('cleanupIntervalMs', options.cleanupIntervalMs, 1);
    this.#clock = options.clock ?? systemClock;
    this.#scheduleCleanup();
  }

  #scheduleCleanup(): void {
    if (this.#cleanupIntervalMs === null || this.#closed) return;
    this.#cleanupTimer = this.#clock.setTimeout(() => {
      this.cleanupExpiredStates();
      this.#scheduleCleanup();
    }, this.#cleanupIntervalMs);
  }

  /** The clock this store's state is judged by (breakers compare stored times against it). */
  get clock(): Clock {
    return this.#clock;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('MemoryStateStore');
  }

  #read(name: string, now: number): CircuitStateData | undefined {
    const entry = this.#entries.get(name);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.#entries.delete(name);
      return undefined;
    }
    return entry.data;
  }

  #mutex(name: string): Mutex {
    let mutex = this.#mutexes.get(name);
    if (mutex === undefined) {
      mutex = new Mutex();
      this.#mutexes.set(name, mutex);
    }
    return mutex;
  }

  #publish(change: CircuitStateChange): void {
    this.#listeners.emit(change);
  }

  /** Applies one event under the circuit's mutex, writes and announces the result. */
  async #apply(
    name: string,
    event: CircuitEvent,
    policy: CircuitPolicy,
  ): Promise<AcquireResult | CircuitStateData> {
    validateCircuitName(name);
    this.#assertOpen();
    return this.#mutex(name).runExclusive(() => {
      const now = this.#clock.now();
      const result = transition(this.#read(name, now), event, policy, now);
      if (result.changed) {
        this.#entries.set(name, { data: result.state, expiresAt: now + this.ttlMs });
        if (result.transition !== null) {
          this.#publish({
            name,
            version: result.state.version,
            state: result.state,
            transition: result.transition,
          });
        }
      }
      return result.admission === null ? result.state : { admission: result.admission, state: result.state };
    });
  }

  async getState(name: string): Promise<CircuitStateData | undefined> {
    validateCircuitName(name);
    this.#assertOpen();
    return this.#read(name, this.#clock.now());
  }

  /**
   * Replaces the stored state as given (the seed's `set_state`), with a fresh TTL.
   * @throws {InvalidStateDataError} `data` is not valid state data.
   */
  async setState(name: string, data: CircuitStateData): Promise<boolean> {
    validateCircuitName(name);
    assertStateData(data);
    this.#assertOpen();
    return this.#mutex(name).runExclusive(() => {
      const now = this.#clock.now();
      const previous = this.#read(name, now);
      this.#entries.set(name, { data, expiresAt: now + this.ttlMs });
      const from = previous === undefined ? 'closed' : (previous.override?.mode ?? previous.state);
      const to = data.override?.mode ?? data.state;
      this.#publish({
        name,
        version: data.version,
        state: data,
        transition: from === to ? null : { from, to, reason: 'set', at: now },
      });
      return true;
    });
  }

  async deleteState(name: string): Promise<boolean> {
    validateCircuitName(name);
    this.#assertOpen();
    return this.#mutex(name).runExclusive(() => {
      const existed = this.#read(name, this.#clock.now()) !== undefined;
      this.#entries.delete(name);
      this.#mutexes.delete(name);
      if (existed) this.#publish({ name, version: 0, state: null, transition: null });
      return existed;
    });
  }

  async getAllStates(): Promise<Map<string, CircuitStateData>> {
    this.#assertOpen();
    const now = this.#clock.now();
    const states = new Map<string, CircuitStateData>();
    for (const name of [...this.#entries.keys()]) {
      const data = this.#read(name, now);
      if (data !== undefined) states.set(name, data);
    }
    return states;
  }

  async acquire(name: string, policy: CircuitPolicy, request: AcquireRequest): Promise<AcquireResult> {
    if (request.jitter !== undefined) assertInteger('jitter', request.jitter, 0, JITTER_SCALE - 1);
    return (await this.#apply(
      name,
      { type: 'acquire', leaseId: request.leaseId, jitter: request.jitter ?? 0 },
      policy,
    )) as AcquireResult;
  }

  /**
   * Records outcomes as one batch (see the store contract).
   * @throws {TypeError} the outcomes or the batch are malformed (nothing is written).
   */
  async record(
    name: string,
    outcomes: RecordedOutcomes,
    policy: CircuitPolicy,
    jitter = 0,
  ): Promise<CircuitStateData> {
    assertRecordedOutcomes(outcomes, policy);
    assertInteger('jitter', jitter, 0, JITTER_SCALE - 1);
    return (await this.#apply(name, { type: 'record', outcomes, jitter }, policy)) as CircuitStateData;
  }

  async override(
    name: string,
    override: OverrideRequest | null,
    policy: CircuitPolicy,
  ): Promise<CircuitStateData> {
    return (await this.#apply(name, { type: 'override', override }, policy)) as CircuitStateData;
  }

  async reset(name: string, policy: CircuitPolicy): Promise<CircuitStateData> {
    return (await this.#apply(name, { type: 'reset' }, policy)) as CircuitStateData;
  }

  subscribe(listener: (change: CircuitStateChange) => void, options: SubscribeOptions = {}): Disposable {
    this.#assertOpen();
    return this.#listeners.subscribe(listener, options);
  }

  /**
   * Removes states whose TTL has passed (the seed's `cleanup_expired_states`).
   * @returns how many were removed.
   */
  cleanupExpiredStates(): number {
    const now = this.#clock.now();
    let removed = 0;
    for (const [name, entry] of this.#entries) {
      if (entry.expiresAt <= now) {
        this.#entries.delete(name);
        const mutex = this.#mutexes.get(name);
        if (mutex !== undefined && !mutex.isLocked()) this.#mutexes.delete(name);
        removed++;
      }
    }
    return removed;
  }

  /** Names and count of the circuits held (the seed's `get_fallback_status`). */
  getStatus(): MemoryStoreStatus {
    const now = this.#clock.now();
    const states = [...this.#entries].filter(([, entry]) => entry.expiresAt > now).map(([name]) => name);
    return { statesCount: states.length, states };
  }

  /** Stops the cleanup timer and drops listeners; every operation after it throws `ClosedError`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#cleanupTimer !== null) this.#clock.clearTimeout(this.#cleanupTimer);
    this.#cleanupTimer = null;
    this.#listeners.clear();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Creates a {@link MemoryStateStore}.
 * @example
 * ```ts
 * const store = createMemoryStateStore();
 * ```
 */
export function createMemoryStateStore(options?: MemoryStateStoreOptions): MemoryStateStore {
  return new MemoryStateStore(options);
}

import {
  type AcquireRequest,
  type AcquireResult,
  assertInteger,
  assertKnownKeys,
  assertObject,
  assertOverrideRequest,
  assertRecordedOutcomes,
  assertStateData,
  boundStoredTimes,
  ChangeListeners,
  type ChangeReceiver,
  type CircuitEvent,
  type CircuitPolicy,
  type CircuitStateChange,
  type CircuitStateData,
  type CircuitStateStore,
  type Clock,
  ClosedError,
  DEFAULT_POLICY,
  type Disposable,
  isTombstone,
  JITTER_SCALE,
  LEASE_ID,
  type OverrideRequest,
  READ_LIMITS,
  type RecordedOutcomes,
  type StoredCircuit,
  type SubscribeOptions,
  storedCircuitExpiry,
  systemClock,
  type TimerHandle,
  type TimerProvider,
  tombstoneOf,
  transition,
  validateCircuitName,
} from '@xnai/cb-core';

/** Options of {@link MemoryStateStore}. Every field is optional; validated once, at construction. */
export interface MemoryStateStoreOptions {
  /**
   * How long a circuit's state is kept after the last thing in force ends (its last write, its open
   * period, an override's expiry; an override without expiry is kept until cleared). The seed's
   * one-hour TTL.
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
   * Clock and timers. Times are stored as whole milliseconds of this clock.
   * @default systemClock
   */
  readonly clock?: Clock & TimerProvider;
  /**
   * `true` when this store is where the circuits' state lives. `false` for a copy of another store
   * kept while that one is unreachable (the registry's warm mirror): its status changes then do not
   * count as decisions of the fleet (`decidedAt`), so they never outrank what the store of record
   * decided meanwhile when the two are reconciled.
   * @default true
   */
  readonly authoritative?: boolean;
}

/** Fallback-status shape of the seed (`get_fallback_status`). */
export interface MemoryStoreStatus {
  /** Circuits held (deleted ones aside). */
  readonly statesCount: number;
  /** Their names. */
  readonly states: readonly string[];
}

interface Entry {
  stored: StoredCircuit;
  expiresAt: number;
}

const OPTION_NAMES = new Set(['ttlMs', 'cleanupIntervalMs', 'clock', 'authoritative']);

/**
 * Circuit state in this process: a `Map` of circuits, each changed by one synchronous application
 * of the transition function every store uses (so no lock is needed: nothing interleaves with it),
 * expiring a TTL after the last thing in force. A deletion leaves a tombstone for the TTL. Implements
 * the {@link CircuitStateStore} contract.
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
  readonly #listeners = new ChangeListeners();
  readonly #authoritative: boolean;
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
    if (options.authoritative !== undefined && typeof options.authoritative !== 'boolean') {
      throw new TypeError(`authoritative must be a boolean, got ${typeof options.authoritative}`);
    }
    this.#authoritative = options.authoritative ?? true;
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

  #now(): number {
    return Math.floor(this.#clock.now());
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('MemoryStateStore');
  }

  #entry(name: string, now: number): StoredCircuit | undefined {
    const entry = this.#entries.get(name);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.#entries.delete(name);
      return undefined;
    }
    return entry.stored;
  }

  #write(name: string, stored: StoredCircuit, now: number): void {
    this.#entries.set(name, { stored, expiresAt: storedCircuitExpiry(stored, this.ttlMs, now) });
  }

  /** Applies one event, writes and announces the result, all in one synchronous step. */
  #apply(name: string, event: CircuitEvent, policy: CircuitPolicy): AcquireResult | CircuitStateData {
    const now = this.#now();
    const result = transition(this.#entry(name, now), event, policy, now, {
      authoritative: this.#authoritative,
    });
    if (result.changed) {
      this.#write(name, result.state, now);
      if (result.transition !== null || result.notify) {
        this.#listeners.emit({
          name,
          version: result.state.version,
          state: result.state,
          transition: result.transition,
        });
      }
    }
    return result.admission === null ? result.state : { admission: result.admission, state: result.state };
  }

  async getState(name: string): Promise<CircuitStateData | undefined> {
    validateCircuitName(name);
    this.#assertOpen();
    const now = this.#now();
    const stored = this.#entry(name, now);
    // Bounded at now exactly as the Redis store's reads are (a clock that stepped back).
    return stored === undefined || isTombstone(stored)
      ? undefined
      : boundStoredTimes(stored, READ_LIMITS, now);
  }

  /**
   * What the store holds for `name` right now, a deletion's tombstone included. For stores built on
   * this one (the registry's reconciliation); breakers use {@link getState}.
   */
  peek(name: string): StoredCircuit | undefined {
    validateCircuitName(name);
    return this.#entry(name, this.#now());
  }

  /**
   * Puts a state or tombstone exactly as given (version and decision included), without announcing
   * it: how a copy of another store takes that store's data. Its TTL runs from `writtenAt` (default
   * now), the time the other store wrote it.
   * @throws {InvalidStateDataError} `stored` is neither valid state data nor a tombstone.
   */
  put(name: string, stored: StoredCircuit, writtenAt = this.#now()): void {
    validateCircuitName(name);
    this.#assertOpen();
    if (!isTombstone(stored)) assertStateData(stored);
    this.#entries.set(name, { stored, expiresAt: storedCircuitExpiry(stored, this.ttlMs, writtenAt) });
  }

  /**
   * Drops whatever the store holds for `name` (a tombstone included) without announcing it: how a
   * copy of another store forgets a circuit that store lost, so that the next copy it takes is taken
   * whatever its version. Returns `true` when there was an entry.
   */
  forget(name: string): boolean {
    validateCircuitName(name);
    this.#assertOpen();
    return this.#entries.delete(name);
  }

  /**
   * Replaces the stored state (the seed's `set_state`) so that it takes effect: the data as given,
   * with a version above the stored one and `decidedAt` now. Pushed to every subscriber.
   * @throws {InvalidStateDataError} `data` is not valid state data (nothing is written).
   */
  async setState(name: string, data: CircuitStateData): Promise<boolean> {
    validateCircuitName(name);
    assertStateData(data);
    this.#assertOpen();
    const now = this.#now();
    const result = transition(this.#entry(name, now), { type: 'set', data }, DEFAULT_POLICY, now);
    this.#write(name, result.state, now);
    this.#listeners.emit({
      name,
      version: result.state.version,
      state: result.state,
      transition: result.transition,
    });
    return true;
  }

  /** Deletes the circuit, leaving a tombstone for `ttlMs`; resolves `true` when there was a state. */
  async deleteState(name: string): Promise<boolean> {
    validateCircuitName(name);
    this.#assertOpen();
    const now = this.#now();
    const stored = this.#entry(name, now);
    if (stored === undefined || isTombstone(stored)) return false;
    const tombstone = tombstoneOf(stored, now);
    this.#write(name, tombstone, now);
    this.#listeners.emit({
      name,
      version: tombstone.version,
      state: null,
      transition: null,
      decidedAt: tombstone.decidedAt,
    });
    return true;
  }

  async getAllStates(): Promise<Map<string, CircuitStateData>> {
    this.#assertOpen();
    const now = this.#now();
    const states = new Map<string, CircuitStateData>();
    for (const name of [...this.#entries.keys()]) {
      const stored = this.#entry(name, now);
      if (stored !== undefined && !isTombstone(stored))
        states.set(name, boundStoredTimes(stored, READ_LIMITS, now));
    }
    return states;
  }

  async acquire(name: string, policy: CircuitPolicy, request: AcquireRequest): Promise<AcquireResult> {
    validateCircuitName(name);
    this.#assertOpen();
    if (typeof request?.leaseId !== 'string' || !LEASE_ID.test(request.leaseId)) {
      throw new TypeError(
        `leaseId must be 1 to 64 of A-Z a-z 0-9 . : _ -, got ${JSON.stringify(request?.leaseId)}`,
      );
    }
    if (request.jitter !== undefined) assertInteger('jitter', request.jitter, 0, JITTER_SCALE - 1);
    return this.#apply(
      name,
      { type: 'acquire', leaseId: request.leaseId, jitter: request.jitter ?? 0 },
      policy,
    ) as AcquireResult;
  }

  /**
   * Records outcomes as one batch (see the store contract).
   * @throws {TypeError} the outcomes or the batch are malformed (nothing is written).
   * @throws {RangeError} `jitter` is not an integer in [0, JITTER_SCALE).
   */
  async record(
    name: string,
    outcomes: RecordedOutcomes,
    policy: CircuitPolicy,
    jitter = 0,
  ): Promise<CircuitStateData> {
    validateCircuitName(name);
    this.#assertOpen();
    assertRecordedOutcomes(outcomes, policy);
    assertInteger('jitter', jitter, 0, JITTER_SCALE - 1);
    return this.#apply(name, { type: 'record', outcomes, jitter }, policy) as CircuitStateData;
  }

  /**
   * Sets (or with `null` clears) the manual override; a `durationMs` runs from this store's clock.
   * @throws {TypeError | RangeError} the request is malformed, naming the field (nothing is written).
   */
  async override(
    name: string,
    override: OverrideRequest | null,
    policy: CircuitPolicy,
  ): Promise<CircuitStateData> {
    validateCircuitName(name);
    this.#assertOpen();
    assertOverrideRequest(override);
    return this.#apply(name, { type: 'override', override }, policy) as CircuitStateData;
  }

  async reset(name: string, policy: CircuitPolicy): Promise<CircuitStateData> {
    validateCircuitName(name);
    this.#assertOpen();
    return this.#apply(name, { type: 'reset' }, policy) as CircuitStateData;
  }

  subscribe(listener: (change: CircuitStateChange) => void, options: SubscribeOptions = {}): Disposable {
    this.#assertOpen();
    return this.#listeners.subscribe(listener, options);
  }

  /** Delivers `name`'s changes to `receiver` until {@link unwatch} (what breakers use). */
  watch(name: string, receiver: ChangeReceiver): void {
    this.#assertOpen();
    this.#listeners.watch(name, receiver);
  }

  unwatch(name: string, receiver: ChangeReceiver): void {
    this.#listeners.unwatch(name, receiver);
  }

  /**
   * Removes states and tombstones whose TTL has passed (the seed's `cleanup_expired_states`).
   * @returns how many were removed.
   */
  cleanupExpiredStates(): number {
    const now = this.#now();
    let removed = 0;
    for (const [name, entry] of this.#entries) {
      if (entry.expiresAt <= now) {
        this.#entries.delete(name);
        removed++;
      }
    }
    return removed;
  }

  /** Names and count of the circuits held, deleted ones aside (the seed's `get_fallback_status`). */
  getStatus(): MemoryStoreStatus {
    const now = this.#now();
    const states: string[] = [];
    for (const [name, entry] of this.#entries) {
      if (entry.expiresAt > now && !isTombstone(entry.stored)) states.push(name);
    }
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

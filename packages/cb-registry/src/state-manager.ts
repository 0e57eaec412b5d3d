import {
  type AcquireRequest,
  type AcquireResult,
  assertInteger,
  assertKnownKeys,
  assertObject,
  assertStateData,
  ChangeListeners,
  type CircuitPolicy,
  type CircuitStateChange,
  type CircuitStateData,
  type CircuitStateStore,
  type Clock,
  ClosedError,
  type Disposable,
  effectiveStatus,
  Listeners,
  type OverrideRequest,
  type RecordedOutcomes,
  StoreUnavailableError,
  type SubscribeOptions,
  systemClock,
  type TimerHandle,
  type TimerProvider,
  toDisposable,
  validateCircuitName,
} from '@xnai/cb-core';
import type { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { MemoryStateStore } from '@xnai/cb-store-memory';
import { RedisStateStore } from '@xnai/cb-store-redis';
import { mergeStates, sameStateContent } from './merge.js';

/** Options of {@link CircuitBreakerStateManager}. */
export interface CircuitBreakerStateManagerOptions {
  /** The connection manager to Redis; the state manager never connects or disconnects it itself. */
  readonly redis: RedisConnectionManager;
  /**
   * Prefix of every circuit's key (the seed's `circuit_breaker:`).
   * @default 'circuit_breaker:'
   */
  readonly keyPrefix?: string;
  /**
   * Pub/Sub channel of state changes.
   * @default `${keyPrefix}events`
   */
  readonly channel?: string;
  /**
   * How long a circuit's state lives after its last write, in Redis and in memory (the seed's one hour).
   * @default 3_600_000
   */
  readonly ttlMs?: number;
  /**
   * How often Redis is checked for lost state (restart without persistence, FLUSHALL): a marker key
   * is set with `SET NX`; when it was missing, every mirrored circuit is reconciled. `null` disables
   * the check (reconnects and recoveries still reconcile).
   * @default 1000
   */
  readonly stateCheckIntervalMs?: number | null;
  /**
   * Scripts take time from `clock` instead of Redis `TIME` (tests, single process).
   * @default false
   */
  readonly useClientTime?: boolean;
  /**
   * Clock and (unref'd) timers.
   * @default systemClock
   */
  readonly clock?: Clock & TimerProvider;
}

/** The seed's `get_fallback_status()`. */
export interface FallbackStatus {
  /** Circuits changed while Redis was unavailable and not yet reconciled into Redis. */
  readonly fallbackStatesCount: number;
  readonly fallbackStates: readonly string[];
  /** Circuits held in the warm in-memory mirror (every state Redis returned). */
  readonly mirroredStatesCount: number;
}

/** Payload of {@link CircuitBreakerStateManager.onReconciled}. */
export interface ReconciledEvent {
  /** Circuits whose state was written to Redis (merged or re-seeded). */
  readonly merged: number;
  /**
   * Circuits changed on both sides (in memory during the outage and in Redis meanwhile), resolved by
   * the merge rules whether or not that meant a write.
   */
  readonly conflicting: number;
  /** Of those, circuits Redis had lost and that were written back from memory. */
  readonly reseeded: number;
  /** Circuits looked at. */
  readonly checked: number;
  /** Circuits that could not be reconciled (Redis failed again); they stay pending. */
  readonly failed: number;
  /** Names written to Redis. */
  readonly circuits: readonly string[];
  /** Why the reconciliation ran. */
  readonly trigger: ReconcileTrigger;
  readonly durationMs: number;
  /** Epoch ms. */
  readonly at: number;
}

/** What started a reconciliation. */
export type ReconcileTrigger =
  | 'recovered'
  | 'connected'
  | 'reconnected'
  | 'state-lost'
  | 'pending'
  | 'manual';

/** Options of {@link CircuitBreakerStateManager}, for rejecting unknown ones (the registry extends them). */
export const STATE_MANAGER_OPTION_NAMES = [
  'redis',
  'keyPrefix',
  'channel',
  'ttlMs',
  'stateCheckIntervalMs',
  'useClientTime',
  'clock',
] as const;
const OPTION_NAMES = new Set<string>(STATE_MANAGER_OPTION_NAMES);
const MAX_MERGE_ATTEMPTS = 5;
const PENDING_RECONCILE_DELAY_MS = 100;
/** Circuits reconciled at once. */
const RECONCILE_CONCURRENCY = 16;

class OperationTimeout extends Error {}

function fromGlobal(disposable: globalThis.Disposable): { dispose(): void } {
  return toDisposable(() => disposable[Symbol.dispose]());
}

function isNonClosed(data: CircuitStateData, now: number): boolean {
  return effectiveStatus(data, now) !== 'closed' || data.override !== null;
}

/**
 * The seed's `CircuitBreakerStateManager`: circuit state in Redis, with a warm in-memory mirror of
 * every state Redis returned. It is itself a {@link CircuitStateStore}, so breakers run on it
 * unchanged.
 *
 * - While Redis is usable, every operation goes to Redis and its result is copied into the mirror;
 *   changes pushed by other instances are mirrored too.
 * - When Redis is unavailable (or an operation fails or takes longer than the connection manager's
 *   operation timeout), the same operation runs on the mirror at once: open circuits stay open and
 *   counting continues. The circuits changed there are remembered.
 * - When Redis is back, those circuits are merged into Redis by {@link mergeStates} with a
 *   version-fenced write, and state Redis lost is written back from the mirror.
 *
 * @example
 * ```ts
 * const redis = new RedisConnectionManager({ url: 'redis://localhost:6379' });
 * await redis.connect();
 * const stateManager = new CircuitBreakerStateManager({ redis });
 * const state = await stateManager.getState('my_circuit');
 * ```
 */
export class CircuitBreakerStateManager implements CircuitStateStore, AsyncDisposable {
  readonly specificationVersion = 'v1' as const;
  readonly local = false;
  /** Redis time (learned from replies), the clock breakers judge stored times by. */
  readonly clock: Clock;
  readonly #manager: RedisConnectionManager;
  readonly #redis: RedisStateStore;
  readonly #mirror: MemoryStateStore;
  readonly #timers: Clock & TimerProvider;
  /** Newest version put into the mirror per circuit, decided synchronously so writes never regress. */
  readonly #mirrorVersions = new Map<string, number>();
  /** Circuits changed in the mirror and not yet merged into Redis, with the Redis version they started from. */
  readonly #pending = new Map<string, number>();
  /** Last Redis version the mirror took per circuit. */
  readonly #redisVersions = new Map<string, number>();
  readonly #listeners = new ChangeListeners();
  readonly #reconciledListeners = new Listeners<ReconciledEvent>();
  readonly #subscriptions: Array<{ dispose(): void }> = [];
  readonly #markerKey: string;
  readonly #stateCheckIntervalMs: number | null;
  #stateCheckTimer: TimerHandle | null = null;
  #pendingTimer: TimerHandle | null = null;
  #reconciling: Promise<void> | null = null;
  #reconcileAgain: { all: boolean; trigger: ReconcileTrigger } | null = null;
  #closed = false;

  /** @throws {TypeError | RangeError} an option is invalid, naming it and the value. */
  constructor(options: CircuitBreakerStateManagerOptions) {
    assertKnownKeys('options', assertObject('options', options), OPTION_NAMES);
    const manager = options.redis as RedisConnectionManager | undefined;
    if (
      typeof manager !== 'object' ||
      manager === null ||
      typeof manager.execute !== 'function' ||
      typeof manager.onRecovered !== 'function'
    ) {
      throw new TypeError(
        `redis must be a RedisConnectionManager, got ${manager === null ? 'null' : typeof manager}`,
      );
    }
    this.#manager = manager;
    this.#timers = options.clock ?? systemClock;
    const ttlMs = options.ttlMs ?? 3_600_000;
    this.#stateCheckIntervalMs =
      options.stateCheckIntervalMs === null
        ? null
        : assertInteger('stateCheckIntervalMs', options.stateCheckIntervalMs ?? 1_000, 10, 86_400_000);
    this.#redis = new RedisStateStore({
      redis: manager,
      ttlMs,
      clock: this.#timers,
      ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
      ...(options.channel === undefined ? {} : { channel: options.channel }),
      ...(options.useClientTime === undefined ? {} : { useClientTime: options.useClientTime }),
    });
    // The mirror judges time as Redis does, so an open period ends at the same moment in both.
    // Whole milliseconds: the learned offset is fractional, and stored times must be integers.
    const redisClock = this.#redis.clock;
    this.clock = { now: () => Math.floor(redisClock.now()) };
    const timers = this.#timers;
    this.#mirror = new MemoryStateStore({
      ttlMs,
      clock: {
        now: () => Math.floor(redisClock.now()),
        setTimeout: (callback, delayMs) => timers.setTimeout(callback, delayMs),
        clearTimeout: (handle) => timers.clearTimeout(handle),
      },
    });
    // A control character keeps the marker out of every circuit listing.
    this.#markerKey = `${this.#redis.keyPrefix}\u0000state-marker`;

    this.#subscriptions.push(
      this.#redis.subscribe((change) => this.#onRedisChange(change)),
      this.#mirror.subscribe((change) => this.#onMirrorChange(change)),
      fromGlobal(manager.onRecovered(() => this.#requestReconcile(true, 'recovered'))),
      fromGlobal(manager.onReconnected(() => this.#requestReconcile(true, 'reconnected'))),
    );
    if (manager.mode === 'connecting') {
      // Started before Redis answered: reconcile once it does.
      manager.connect().then(
        (connected) => {
          if (connected) this.#requestReconcile(true, 'connected');
        },
        () => undefined,
      );
    }
    this.#scheduleStateCheck(0);
  }

  /** The Redis store underneath (for `onCorruptState`, `getStats`, `listNames`). */
  get redisStore(): RedisStateStore {
    return this.#redis;
  }

  /** The in-memory mirror underneath. */
  get memoryStore(): MemoryStateStore {
    return this.#mirror;
  }

  /** `true` while operations go to Redis; `false` while they go to the in-memory mirror. */
  get redisAvailable(): boolean {
    return this.#manager.isConnected && !this.#closed;
  }

  // ------------------------------------------------------------------------------------------
  // routing

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('CircuitBreakerStateManager');
  }

  #bounded<T>(operation: Promise<T>): Promise<T> {
    const timeoutMs = this.#manager.operationTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = this.#timers.setTimeout(() => reject(new OperationTimeout()), timeoutMs);
      operation.then(
        (value) => {
          this.#timers.clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          this.#timers.clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /**
   * Runs `viaRedis` while Redis is usable and mirrors its result; on any failure (or while Redis is
   * unavailable) runs `viaMirror` at once and remembers the circuit for reconciliation.
   */
  async #route<T>(
    name: string,
    viaRedis: () => Promise<T>,
    viaMirror: () => Promise<T>,
    stateOf: (result: T) => CircuitStateData | undefined,
    changes: boolean,
  ): Promise<T> {
    if (this.redisAvailable) {
      try {
        const result = await this.#bounded(viaRedis());
        this.#takeFromRedis(name, stateOf(result));
        return result;
      } catch {
        // Unknown outcome or unavailable: serve from memory; reconciliation settles the difference.
        if (this.#closed) throw new ClosedError('CircuitBreakerStateManager');
      }
    }
    const result = await viaMirror();
    if (changes) this.#markPending(name, stateOf(result));
    return result;
  }

  /** Copies a state Redis returned into the mirror, unless the mirror holds unreconciled changes. */
  #takeFromRedis(name: string, data: CircuitStateData | undefined): void {
    if (data === undefined || this.#closed) return;
    this.#redisVersions.set(name, data.version);
    if (this.#pending.has(name)) return;
    this.#putInMirror(name, data);
  }

  #putInMirror(name: string, data: CircuitStateData): void {
    const known = this.#mirrorVersions.get(name) ?? -1;
    if (data.version < known) return;
    this.#mirrorVersions.set(name, data.version);
    // The mirror's per-circuit mutex is FIFO, so writes land in the order decided here.
    this.#mirror.setState(name, data).catch(() => undefined);
  }

  #markPending(name: string, data: CircuitStateData | undefined): void {
    if (data !== undefined) {
      const known = this.#mirrorVersions.get(name) ?? -1;
      if (data.version > known) this.#mirrorVersions.set(name, data.version);
    }
    if (!this.#pending.has(name)) this.#pending.set(name, this.#redisVersions.get(name) ?? 0);
    // Redis is up but this operation failed (a timeout): merge soon rather than at the next outage.
    if (this.#manager.isConnected) this.#schedulePendingReconcile();
  }

  #onRedisChange(change: CircuitStateChange): void {
    if (this.#closed) return;
    if (change.state === null) {
      if (!this.#pending.has(change.name)) {
        this.#mirrorVersions.delete(change.name);
        this.#redisVersions.delete(change.name);
        this.#mirror.deleteState(change.name).catch(() => undefined);
      }
    } else {
      this.#takeFromRedis(change.name, change.state);
    }
    this.#emit(change);
  }

  /** Transitions made on the mirror during an outage are announced like Redis ones. */
  #onMirrorChange(change: CircuitStateChange): void {
    if (this.#closed || change.state === null || change.transition === null) return;
    if (change.transition.reason === 'set') return;
    this.#emit(change);
  }

  #emit(change: CircuitStateChange): void {
    this.#listeners.emit(change);
  }

  // ------------------------------------------------------------------------------------------
  // the seed's operations

  /**
   * The circuit's state (the seed's `get_state`): from Redis while it is usable, else from memory.
   * When Redis no longer has a circuit the mirror holds (restart, eviction, FLUSHALL), it is written
   * back from the mirror first.
   */
  async getState(name: string): Promise<CircuitStateData | undefined> {
    validateCircuitName(name);
    this.#assertOpen();
    return this.#route(
      name,
      async () => {
        const stored = await this.#redis.getState(name);
        if (stored !== undefined) return stored;
        return this.#reseed(name);
      },
      () => this.#mirror.getState(name),
      (data) => data,
      false,
    );
  }

  /** Writes the mirror's copy back when Redis lost the circuit; returns what Redis then holds. */
  async #reseed(name: string): Promise<CircuitStateData | undefined> {
    if (this.#pending.has(name)) return undefined;
    const mirrored = await this.#mirror.getState(name);
    if (mirrored === undefined) return undefined;
    const result = await this.#redis.compareAndSet(name, 0, mirrored);
    return result.state;
  }

  /**
   * Replaces the circuit's state (the seed's `set_state`).
   * @returns `true` when Redis took the write, `false` when only the in-memory fallback did.
   * @throws {InvalidStateDataError} `data` is not valid state data.
   */
  async setState(name: string, data: CircuitStateData): Promise<boolean> {
    validateCircuitName(name);
    assertStateData(data);
    this.#assertOpen();
    if (this.redisAvailable) {
      try {
        await this.#bounded(this.#redis.setState(name, data));
        // The stored version is the store's; read it back through the push or the next read.
        this.#redisVersions.set(name, data.version);
        if (!this.#pending.has(name)) {
          this.#mirrorVersions.set(name, Math.max(this.#mirrorVersions.get(name) ?? -1, data.version));
          await this.#mirror.setState(name, data);
        }
        return true;
      } catch {
        if (this.#closed) throw new ClosedError('CircuitBreakerStateManager');
      }
    }
    await this.#mirror.setState(name, data);
    this.#markPending(name, data);
    this.#emit({ name, version: data.version, state: data, transition: null });
    return false;
  }

  /**
   * Removes the circuit's state from Redis and from memory (the seed's `delete_state`).
   * @returns `true` when either held it.
   */
  async deleteState(name: string): Promise<boolean> {
    validateCircuitName(name);
    this.#assertOpen();
    let deletedInRedis = false;
    if (this.redisAvailable) {
      try {
        deletedInRedis = await this.#bounded(this.#redis.deleteState(name));
      } catch {
        if (this.#closed) throw new ClosedError('CircuitBreakerStateManager');
      }
    }
    this.#pending.delete(name);
    this.#mirrorVersions.delete(name);
    this.#redisVersions.delete(name);
    const deletedInMemory = await this.#mirror.deleteState(name);
    if (!deletedInRedis && deletedInMemory) this.#emit({ name, version: 0, state: null, transition: null });
    return deletedInRedis || deletedInMemory;
  }

  /**
   * Every circuit's state (the seed's `get_all_states`): Redis and memory merged, Redis taking
   * precedence. While Redis is unavailable, memory only.
   */
  async getAllStates(): Promise<Map<string, CircuitStateData>> {
    this.#assertOpen();
    const states = await this.#mirror.getAllStates();
    if (this.redisAvailable) {
      try {
        const stored = await this.#bounded(this.#redis.getAllStates());
        for (const [name, data] of stored) {
          // Circuits changed during an outage are reported as they are in memory until merged.
          if (!this.#pending.has(name)) states.set(name, data);
        }
      } catch {
        // Redis failed midway: memory only.
      }
    }
    return states;
  }

  /**
   * Removes in-memory states older than their TTL (the seed's `cleanup_expired_states`); Redis
   * expires its keys by itself.
   * @returns how many were removed.
   */
  cleanupExpiredStates(): number {
    if (this.#closed) return 0;
    const removed = this.#mirror.cleanupExpiredStates();
    if (removed > 0) {
      const alive = new Set(this.#mirror.getStatus().states);
      for (const name of [...this.#mirrorVersions.keys()]) {
        if (!alive.has(name)) {
          this.#mirrorVersions.delete(name);
          this.#redisVersions.delete(name);
          this.#pending.delete(name);
        }
      }
    }
    return removed;
  }

  /** The seed's `get_fallback_status()`: circuits whose latest state is held only in memory. */
  getFallbackStatus(): FallbackStatus {
    const fallbackStates = [...this.#pending.keys()].sort();
    return {
      fallbackStatesCount: fallbackStates.length,
      fallbackStates,
      mirroredStatesCount: this.#mirror.getStatus().statesCount,
    };
  }

  // ------------------------------------------------------------------------------------------
  // the atomic operations breakers use

  async acquire(name: string, policy: CircuitPolicy, request: AcquireRequest): Promise<AcquireResult> {
    validateCircuitName(name);
    this.#assertOpen();
    return this.#route(
      name,
      async () => {
        // A circuit open in memory but absent in Redis was lost there: write it back before the
        // admission, or Redis would admit calls on a fresh closed circuit.
        const mirrored = await this.#mirror.getState(name);
        if (mirrored !== undefined && !this.#pending.has(name) && isNonClosed(mirrored, this.clock.now())) {
          if ((await this.#redis.getState(name)) === undefined) await this.#reseed(name);
        }
        return this.#redis.acquire(name, policy, request);
      },
      () => this.#mirror.acquire(name, policy, request),
      (result) => result.state,
      true,
    );
  }

  async record(
    name: string,
    outcomes: RecordedOutcomes,
    policy: CircuitPolicy,
    jitter?: number,
  ): Promise<CircuitStateData> {
    validateCircuitName(name);
    this.#assertOpen();
    return this.#route(
      name,
      () => this.#redis.record(name, outcomes, policy, jitter),
      () => this.#mirror.record(name, outcomes, policy, jitter),
      (data) => data,
      true,
    );
  }

  async override(
    name: string,
    override: OverrideRequest | null,
    policy: CircuitPolicy,
  ): Promise<CircuitStateData> {
    validateCircuitName(name);
    this.#assertOpen();
    return this.#route(
      name,
      () => this.#redis.override(name, override, policy),
      () => this.#mirror.override(name, override, policy),
      (data) => data,
      true,
    );
  }

  async reset(name: string, policy: CircuitPolicy): Promise<CircuitStateData> {
    validateCircuitName(name);
    this.#assertOpen();
    return this.#route(
      name,
      () => this.#redis.reset(name, policy),
      () => this.#mirror.reset(name, policy),
      (data) => data,
      true,
    );
  }

  /** Delivers changes pushed by Redis, and transitions made in memory during an outage. */
  subscribe(listener: (change: CircuitStateChange) => void, options: SubscribeOptions = {}): Disposable {
    this.#assertOpen();
    return this.#listeners.subscribe(listener, options);
  }

  /** Listens for finished reconciliations. */
  onReconciled(listener: (event: ReconciledEvent) => void): Disposable {
    return this.#reconciledListeners.add(listener);
  }

  // ------------------------------------------------------------------------------------------
  // reconciliation

  /**
   * Merges every circuit changed in memory during an outage into Redis and writes back every
   * mirrored circuit Redis lost. Runs by itself on recovery, reconnect, first connect and when lost
   * state is detected; call it to force one. Resolves once it (and any run it was coalesced with)
   * finished.
   */
  reconcile(): Promise<void> {
    this.#requestReconcile(true, 'manual');
    return this.#reconciling ?? Promise.resolve();
  }

  #schedulePendingReconcile(): void {
    if (this.#pendingTimer !== null || this.#closed) return;
    this.#pendingTimer = this.#timers.setTimeout(() => {
      this.#pendingTimer = null;
      this.#requestReconcile(false, 'pending');
    }, PENDING_RECONCILE_DELAY_MS);
  }

  #requestReconcile(all: boolean, trigger: ReconcileTrigger): void {
    if (this.#closed) return;
    if (this.#reconciling !== null) {
      const previous = this.#reconcileAgain;
      this.#reconcileAgain = { all: all || (previous?.all ?? false), trigger: previous?.trigger ?? trigger };
      return;
    }
    this.#reconciling = this.#runReconcile(all, trigger).finally(() => {
      this.#reconciling = null;
      const again = this.#reconcileAgain;
      this.#reconcileAgain = null;
      if (again !== null) this.#requestReconcile(again.all, again.trigger);
    });
  }

  async #runReconcile(all: boolean, trigger: ReconcileTrigger): Promise<void> {
    if (!this.#manager.isConnected) return;
    const started = this.#timers.now();
    const names = new Set(this.#pending.keys());
    if (all) for (const name of this.#mirror.getStatus().states) names.add(name);
    const queue = [...names];
    const written: string[] = [];
    let conflicting = 0;
    let reseeded = 0;
    let failed = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const name = queue.shift();
        if (name === undefined || this.#closed) return;
        try {
          const outcome = await this.#reconcileOne(name);
          if (outcome.conflict) conflicting += 1;
          if (!outcome.written) continue;
          written.push(name);
          if (outcome.reseeded) reseeded += 1;
        } catch {
          failed += 1;
          if (!this.#manager.isConnected) {
            failed += queue.length;
            queue.length = 0;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(RECONCILE_CONCURRENCY, queue.length) }, worker));
    if (this.#closed) return;
    // Circuits that failed stay pending; try them again shortly while Redis is up.
    if (failed > 0 && this.#manager.isConnected) this.#schedulePendingReconcile();
    if (names.size > 0 || trigger !== 'pending') {
      this.#reconciledListeners.emit({
        merged: written.length,
        conflicting,
        reseeded,
        checked: names.size,
        failed,
        circuits: written,
        trigger,
        durationMs: this.#timers.now() - started,
        at: this.#timers.now(),
      });
    }
  }

  async #reconcileOne(name: string): Promise<{ written: boolean; conflict: boolean; reseeded: boolean }> {
    for (let attempt = 0; attempt < MAX_MERGE_ATTEMPTS; attempt++) {
      const pending = this.#pending.has(name);
      const base = this.#pending.get(name) ?? 0;
      const stored = await this.#bounded(this.#redis.getState(name));
      const mirrored = await this.#mirror.getState(name);
      // Changed on both sides: in memory during the outage, and in Redis since this instance last saw it.
      const conflict = pending && stored !== undefined && stored.version !== base;
      // Untouched circuits: the mirror is only an older copy of Redis, which wins; Redis lost it: re-seed.
      const merged = pending ? mergeStates(stored, mirrored) : (stored ?? mirrored);
      if (merged === undefined) {
        this.#pending.delete(name);
        return { written: false, conflict: false, reseeded: false };
      }
      if (stored !== undefined && sameStateContent(merged, stored)) {
        // Redis already holds the outcome (it won): views that missed pushes meanwhile catch up.
        this.#settle(name, stored);
        return { written: false, conflict, reseeded: false };
      }
      const result = await this.#bounded(this.#redis.compareAndSet(name, stored?.version ?? 0, merged));
      if (result.written && result.state !== undefined) {
        // Only if nothing changed the mirror meanwhile; otherwise merge again with that too.
        if (this.#pending.has(name) && this.#mirrorVersions.get(name) !== mirrored?.version) continue;
        this.#settle(name, result.state);
        return { written: true, conflict, reseeded: stored === undefined };
      }
    }
    throw new StoreUnavailableError(`Circuit "${name}" kept changing while it was reconciled`);
  }

  /** Redis now holds the reconciled state: the mirror takes it and subscribers (breaker views) hear of it. */
  #settle(name: string, data: CircuitStateData): void {
    this.#pending.delete(name);
    this.#redisVersions.set(name, data.version);
    this.#putInMirror(name, data);
    this.#emit({ name, version: data.version, state: data, transition: null });
  }

  // ------------------------------------------------------------------------------------------
  // lost-state check

  #scheduleStateCheck(delayMs: number): void {
    if (this.#stateCheckIntervalMs === null || this.#closed) return;
    this.#stateCheckTimer = this.#timers.setTimeout(() => {
      this.#stateCheckTimer = null;
      void this.#checkState();
    }, delayMs);
  }

  async #checkState(): Promise<void> {
    try {
      if (!this.#manager.isConnected) return;
      const reply = await this.#manager.execute((client) => client.set(this.#markerKey, '1', 'NX'));
      // The marker was missing: Redis was restarted empty or flushed since the last check.
      if (reply === 'OK' && this.#mirror.getStatus().statesCount > 0) {
        this.#requestReconcile(true, 'state-lost');
      }
    } catch {
      // Redis failed: the connection manager has seen it too and switches to fallback.
    } finally {
      this.#scheduleStateCheck(this.#stateCheckIntervalMs ?? 0);
    }
  }

  /**
   * Stops background work and releases the stores. The connection manager stays open: it is the
   * caller's. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    // Let a reconciliation in progress finish: it writes state this process is the only holder of.
    await this.#reconciling;
    this.#closed = true;
    if (this.#stateCheckTimer !== null) this.#timers.clearTimeout(this.#stateCheckTimer);
    if (this.#pendingTimer !== null) this.#timers.clearTimeout(this.#pendingTimer);
    this.#stateCheckTimer = null;
    this.#pendingTimer = null;
    for (const subscription of this.#subscriptions.splice(0)) subscription.dispose();
    this.#listeners.clear();
    this.#reconciledListeners.clear();
    await this.#redis.close();
    await this.#mirror.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

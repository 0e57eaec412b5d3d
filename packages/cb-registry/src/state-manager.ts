import {
  type AcquireRequest,
  type AcquireResult,
  assertInteger,
  assertStateData,
  ChangeListeners,
  type ChangeReceiver,
  type CircuitPolicy,
  type CircuitStateChange,
  type CircuitStateData,
  type CircuitStateStore,
  type Clock,
  ClosedError,
  type Disposable,
  isTombstone,
  Listeners,
  type OverrideRequest,
  type RecordedOutcomes,
  type StoredCircuit,
  type SubscribeOptions,
  systemClock,
  type TimerProvider,
  toDisposable,
  VERSIONS_PER_MS,
  validateCircuitName,
} from '@xnai/cb-core';
import type { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { MemoryStateStore } from '@xnai/cb-store-memory';
import { RedisStateStore } from '@xnai/cb-store-redis';
import { assertClock, createOptionsReader, InFlightLimit, withDeadline } from '@xnai/kit';
import { CircuitBook } from './circuit-book.js';
import { sameStateContent } from './merge.js';
import { protects, type ReconciledEvent, Reconciler, type ReconcileTrigger } from './reconciler.js';

export type { ReconciledEvent, ReconcileTrigger };

/** Options of {@link CircuitBreakerStateManager}. */
export interface CircuitBreakerStateManagerOptions {
  /**
   * The connection manager to Redis; the state manager never connects or disconnects it itself.
   * `null`: memory only — every circuit lives in this process (a single instance, a development
   * machine, a test): nothing connects anywhere, nothing is reconciled, no fallback is reported.
   */
  readonly redis: RedisConnectionManager | null;
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
   * How long a circuit's state lives after the last thing in force ends (its last write, open period,
   * override), in Redis and in memory (the seed's one hour).
   * @default 3_600_000
   */
  readonly ttlMs?: number;
  /**
   * How often Redis is checked for lost state (restart without persistence, FLUSHALL): a marker key
   * is set with `SET NX GET`; when it was missing or re-created by another instance since the last
   * check, every mirrored circuit is reconciled. `null` disables the check (reconnects and
   * recoveries still reconcile).
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
  /** Their names. */
  readonly fallbackStates: readonly string[];
  /** Circuits held in the warm in-memory mirror (every state Redis returned). */
  readonly mirroredStatesCount: number;
}

/** A store operation of the state manager, as {@link CircuitBreakerStateManager.onOperation} reports it. */
export interface StoreOperationEvent {
  /** The circuit. */
  readonly name: string;
  /** The store operation, by its method name. */
  readonly operation: 'getState' | 'setState' | 'deleteState' | 'acquire' | 'record' | 'override' | 'reset';
  /** Where it was served: Redis, or the warm mirror (Redis unavailable, or the operation failed there). */
  readonly servedBy: 'redis' | 'memory';
  /** Milliseconds the operation took, Redis attempt included. */
  readonly durationMs: number;
  /**
   * A change that reached only memory: it stays pending until Redis is back (the seed's "state stored
   * in fallback only"; what `state_persistence_failures_total` counts).
   */
  readonly memoryOnly: boolean;
  /** Why Redis did not serve it, when it did not and was asked. */
  readonly error?: unknown;
}

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

/**
 * The defaults of {@link CircuitBreakerStateManagerOptions}, frozen. `redis` has none, and `channel`
 * defaults to `${keyPrefix}events`.
 */
export const DEFAULT_CIRCUIT_BREAKER_STATE_MANAGER_OPTIONS: Readonly<
  Required<Omit<CircuitBreakerStateManagerOptions, 'redis' | 'channel'>>
> = Object.freeze({
  keyPrefix: 'circuit_breaker:',
  ttlMs: 3_600_000,
  stateCheckIntervalMs: 1_000,
  useClientTime: false,
  clock: systemClock,
});

const readOptions = createOptionsReader(DEFAULT_CIRCUIT_BREAKER_STATE_MANAGER_OPTIONS, {
  extraKeys: ['redis', 'channel'],
});

class OperationTimeout extends Error {}

/**
 * Reads of Redis in flight at once; the rest wait their turn, and their operation timeout starts
 * when they are sent. A burst of first reads (100,000 circuits registered at start) then flows at
 * the rate Redis answers instead of timing out in the client queue and being served from memory.
 * A read whose turn comes while Redis is unavailable is served from memory at once.
 */
const READS_IN_FLIGHT = 256;

function fromGlobal(disposable: globalThis.Disposable): { dispose(): void } {
  return toDisposable(() => disposable[Symbol.dispose]());
}

/** A Redis reply for a circuit Redis has nothing for: the fresh state a script starts from. */
function isUnwritten(data: CircuitStateData): boolean {
  return data.version === 0;
}

/**
 * The seed's `CircuitBreakerStateManager`: circuit state in Redis, with a warm in-memory mirror of
 * every state Redis returned for the circuits this instance uses. It is itself a
 * {@link CircuitStateStore}, so breakers run on it unchanged.
 *
 * - While Redis is usable, every operation goes to Redis and its result is copied into the mirror;
 *   changes pushed by other instances are mirrored too.
 * - When Redis is unavailable (or an operation fails or takes longer than the connection manager's
 *   operation timeout), the same operation runs on the mirror at once: open circuits stay open and
 *   counting continues. The circuits changed there are remembered.
 * - When Redis is back, those circuits are merged into Redis by the merge rules (a decision made by
 *   the fleet meanwhile — a reset, an override, a deletion, a transition — is kept), and a circuit
 *   Redis lost is written back from the mirror while it still protects callers.
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
  /** `true` in memory-only mode: state lives in this process only. */
  readonly local: boolean;
  /** Redis time (learned from replies), the clock breakers judge stored times by. */
  readonly clock: Clock;
  /** `null` in memory-only mode (and then so are `#redisOrNull` and the reconciler's work). */
  readonly #manager: RedisConnectionManager | null;
  readonly #redisOrNull: RedisStateStore | null;
  readonly #mirror: MemoryStateStore;
  readonly #timers: Clock & TimerProvider;
  readonly #book = new CircuitBook();
  readonly #reads = new InFlightLimit(READS_IN_FLIGHT);
  /** Reads expedited while queued here (a count per circuit), sent ahead in the Redis store too once started. */
  readonly #expedited = new Map<string, number>();
  readonly #listeners = new ChangeListeners();
  readonly #operationListeners = new Listeners<StoreOperationEvent>();
  readonly #reconciler: Reconciler | null;
  readonly #reconciledListeners = new Listeners<ReconciledEvent>();
  readonly #subscriptions: Array<{ dispose(): void }> = [];
  #closed = false;

  /** @throws {TypeError | RangeError} an option is invalid, naming it and the value. */
  constructor(options: CircuitBreakerStateManagerOptions) {
    const given = readOptions(options);
    const manager = options.redis as RedisConnectionManager | null | undefined;
    if (
      manager !== null &&
      (typeof manager !== 'object' ||
        typeof manager.execute !== 'function' ||
        typeof manager.onRecovered !== 'function')
    ) {
      throw new TypeError(
        `redis must be a RedisConnectionManager or null (memory only), got ${typeof manager}`,
      );
    }
    this.#manager = manager;
    this.local = manager === null;
    this.#timers = assertClock('clock', given.clock);
    const ttlMs = assertInteger('ttlMs', given.ttlMs, 1);
    const stateCheckIntervalMs =
      given.stateCheckIntervalMs === null
        ? null
        : assertInteger('stateCheckIntervalMs', given.stateCheckIntervalMs, 10, 86_400_000);
    const timers = this.#timers;
    if (manager === null) {
      // Memory only: the memory store is the store of record, on the registry's clock.
      this.#redisOrNull = null;
      this.#reconciler = null;
      this.clock = { now: () => Math.floor(timers.now()) };
      this.#mirror = new MemoryStateStore({ ttlMs, clock: timers });
      this.#subscriptions.push(this.#mirror.subscribe((change) => this.#onMirrorChange(change)));
      return;
    }
    const redis = new RedisStateStore({
      redis: manager,
      ttlMs,
      clock: this.#timers,
      // The store checks these two; the defaults filled in are its own.
      keyPrefix: given.keyPrefix as string,
      useClientTime: given.useClientTime as boolean,
      ...(options.channel === undefined ? {} : { channel: options.channel }),
    });
    this.#redisOrNull = redis;
    // The mirror judges time as Redis does, so an open period ends at the same moment in both.
    // Whole milliseconds: the learned offset is fractional, and stored times must be integers.
    const redisClock = redis.clock;
    this.clock = { now: () => Math.floor(redisClock.now()) };
    this.#mirror = new MemoryStateStore({
      ttlMs,
      // A copy: what it decides while Redis is away does not outrank what the fleet decided meanwhile.
      authoritative: false,
      clock: {
        now: () => Math.floor(redisClock.now()),
        setTimeout: (callback, delayMs) => timers.setTimeout(callback, delayMs),
        clearTimeout: (handle) => timers.clearTimeout(handle),
      },
    });
    const reconciler = new Reconciler({
      manager,
      redis,
      mirror: this.#mirror,
      book: this.#book,
      timers: this.#timers,
      clock: this.clock,
      // A control character keeps the marker out of every circuit listing.
      markerKey: `${redis.keyPrefix}\u0000state-marker`,
      stateCheckIntervalMs,
      servedNames: () => this.#listeners.names(),
      bounded: (operation) => this.#bounded(operation),
      settle: (name, stored, readAfter) => this.#settle(name, stored, readAfter),
      isClosed: () => this.#closed,
    });
    this.#reconciler = reconciler;

    this.#subscriptions.push(
      redis.subscribe((change) => this.#onRedisChange(change)),
      this.#mirror.subscribe((change) => this.#onMirrorChange(change)),
      fromGlobal(manager.onRecovered(() => reconciler.request(true, 'recovered'))),
      fromGlobal(manager.onReconnected(() => reconciler.request(true, 'reconnected'))),
      reconciler.onReconciled((event) => this.#reconciledListeners.emit(event)),
    );
    if (manager.mode === 'connecting') {
      // Started before Redis answered: reconcile once it does.
      manager.connect().then(
        (connected) => {
          if (connected) reconciler.request(true, 'connected');
        },
        () => undefined,
      );
    }
    reconciler.startStateCheck();
    // Until the events subscription is live, other instances' changes are not pushed to us. Reads
    // wait for it (briefly); when one could not, every served circuit is brought up to date once it
    // is live, as after a reconnect.
    redis.whenSubscribed().then(
      () => {
        if (redis.readBeforeSubscribed) reconciler.request(true, 'subscribed');
      },
      () => undefined,
    );
  }

  /**
   * `true` when breakers on this store need no per-circuit re-read: memory only, or the Redis store
   * verifies its subscriber (one PING per interval) and a reconnect reconciles every served circuit.
   */
  get verifiesPushes(): boolean {
    return this.#redisOrNull === null || this.#redisOrNull.verifiesPushes;
  }

  /** The Redis store's write budget for deferred window batches; none in memory-only mode. */
  get deferredWritesPerSecond(): number | undefined {
    return this.#redisOrNull?.deferredWritesPerSecond;
  }

  /** `true` when every circuit lives in this process only (constructed with `redis: null`). */
  get memoryOnly(): boolean {
    return this.#manager === null;
  }

  /** The Redis store; only called on paths that run while Redis is available. */
  get #redis(): RedisStateStore {
    const redis = this.#redisOrNull;
    if (redis === null) throw new Error('CircuitBreakerStateManager: memory only, there is no Redis store');
    return redis;
  }

  /** The Redis store underneath (for `onCorruptState`, `getStats`, `listNames`); `null` in memory-only mode. */
  get redisStore(): RedisStateStore | null {
    return this.#redisOrNull;
  }

  /** The in-memory mirror underneath. */
  get memoryStore(): MemoryStateStore {
    return this.#mirror;
  }

  /** `true` while operations go to Redis; `false` while they go to the in-memory mirror. */
  get redisAvailable(): boolean {
    return this.#manager?.isConnected === true && !this.#closed;
  }

  // ------------------------------------------------------------------------------------------
  // routing and mirroring

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('CircuitBreakerStateManager');
  }

  /**
   * `operation` within the operation timeout. The deadline is the connection manager's kind: a
   * timer that fires late because the event loop was blocked (registering 100,000 circuits in one
   * loop, 2 s here) first lets replies that arrived meanwhile be read, so a stall is not taken for
   * a slow Redis (every one of those 100,000 first reads was served from memory before).
   */
  #bounded<T>(operation: Promise<T>): Promise<T> {
    return withDeadline(
      operation,
      this.#manager?.operationTimeoutMs ?? 250,
      { clock: this.#timers },
      () => new OperationTimeout(),
    );
  }

  /**
   * Runs `viaRedis` while Redis is usable and mirrors what it returned; on any failure (or while
   * Redis is unavailable) runs `viaMirror` at once and, for a change, remembers the circuit.
   */
  async #route<T>(
    name: string,
    operation: StoreOperationEvent['operation'],
    viaRedis: () => Promise<T>,
    viaMirror: () => Promise<T>,
    stateOf: (result: T) => StoredCircuit | undefined,
    changes: boolean,
  ): Promise<T> {
    const timed = this.#operationListeners.size > 0;
    const started = timed ? this.#elapsed() : 0;
    if (this.#manager === null) {
      // Memory only: the memory store is the store of record; nothing is pending, nothing falls back.
      const result = await viaMirror();
      if (timed) this.#reportOperation(name, operation, 'memory', started, false, undefined);
      return result;
    }
    let failure: unknown;
    if (this.redisAvailable) {
      try {
        // Reads wait their turn before the operation timeout starts (see READS_IN_FLIGHT).
        const result =
          operation === 'getState'
            ? await this.#reads.run(() => this.#bounded(viaRedis()), name)
            : await this.#bounded(viaRedis());
        this.#take(name, stateOf(result));
        if (timed) this.#reportOperation(name, operation, 'redis', started, false, undefined);
        return result;
      } catch (error) {
        if (this.#closed) throw new ClosedError('CircuitBreakerStateManager');
        // Input errors are the caller's, whichever store would have refused them.
        if (error instanceof TypeError || error instanceof RangeError) throw error;
        // Unknown outcome or unavailable: serve from memory; reconciliation settles the difference.
        failure = error;
      }
    }
    const result = await viaMirror();
    const state = stateOf(result);
    if (state !== undefined) this.#handedOutFromMirror(name, state.version);
    if (changes) this.#markPending(name);
    if (timed) this.#reportOperation(name, operation, 'memory', started, changes, failure);
    return result;
  }

  #elapsed(): number {
    const timers = this.#timers;
    return timers.monotonic === undefined ? timers.now() : timers.monotonic();
  }

  #reportOperation(
    name: string,
    operation: StoreOperationEvent['operation'],
    servedBy: StoreOperationEvent['servedBy'],
    started: number,
    memoryOnly: boolean,
    error: unknown,
  ): void {
    this.#operationListeners.emit({
      name,
      operation,
      servedBy,
      durationMs: Math.max(0, this.#elapsed() - started),
      memoryOnly,
      ...(error === undefined ? {} : { error }),
    });
  }

  /** A copy Redis returned or pushed: the mirror takes it unless it holds unreconciled changes. */
  #take(name: string, stored: StoredCircuit | undefined): void {
    if (stored === undefined || this.#closed) return;
    const record = this.#book.get(name);
    if (stored.version > record.redisVersion) record.redisVersion = stored.version;
    if (stored.version > record.delivered) record.delivered = stored.version;
    if (record.pendingFrom === null) this.#mirrorCopy(name, stored);
  }

  /**
   * Puts Redis's copy into the mirror unless the mirror's is newer; its TTL runs from when Redis wrote
   * it. An equal version is taken too: after Redis lost its data its versions start again from its
   * clock and may equal one the mirror holds for other content (the same millisecond, a clock that
   * stepped back). The mirror takes Redis's copies only while it holds no changes of its own, so at
   * an equal version Redis's is the one that counts.
   */
  #mirrorCopy(name: string, stored: StoredCircuit): void {
    if (!isTombstone(stored) && isUnwritten(stored)) return;
    const held = this.#mirror.peek(name);
    if (held !== undefined && held.version > stored.version) return;
    const writtenAt = Math.min(Math.floor(stored.version / VERSIONS_PER_MS), this.clock.now());
    this.#mirror.put(name, stored, writtenAt);
  }

  #markPending(name: string): void {
    this.#book.markPending(name);
    // Redis is up but this operation failed (a timeout): merge soon rather than at the next outage.
    if (this.#manager?.isConnected === true) this.#reconciler?.schedulePending();
  }

  /** Redis holds `stored` (or nothing) after a reconciliation. */
  #settle(name: string, stored: StoredCircuit | undefined, readAfter = Number.POSITIVE_INFINITY): void {
    if (this.#closed) return;
    // Nothing in Redis, read before a change that was pushed since: the push is newer. The circuit
    // stays as it is (pending, if it was: the next run merges it with what Redis now holds).
    if (stored === undefined && (this.#book.peek(name)?.redisVersion ?? -1) > readAfter) return;
    if (stored === undefined && this.#book.peek(name) === undefined) {
      // Nothing noted and nothing in Redis: a fresh record would change nothing but take memory.
      this.#mirror.forget(name);
      return;
    }
    const record = this.#book.get(name);
    record.pendingFrom = null;
    if (stored !== undefined && stored.version > record.fromMirror) record.fromMirror = 0;
    if (stored === undefined) {
      // Redis lost it (nothing there, not even a deletion) and the copy protects nobody: forget the
      // copy. Redis's versions start again from its clock, possibly at or below the copy's (the same
      // millisecond, a clock that stepped back); a copy kept would refuse them as older.
      this.#mirror.forget(name);
      // A view holding a state Redis no longer has starts over as a fresh closed circuit.
      if (record.delivered > 0) {
        record.delivered = 0;
        this.#emit({ name, version: 0, state: null, transition: null });
      }
      return;
    }
    record.redisVersion = stored.version;
    const held = this.#mirror.peek(name);
    this.#mirrorCopy(name, stored);
    // At the version views were last told, news only when the content differs (see #mirrorCopy).
    const news =
      stored.version > record.delivered ||
      (stored.version === record.delivered &&
        (held === undefined || held.version !== stored.version || !sameStateContent(held, stored)));
    if (news) {
      record.delivered = stored.version;
      this.#emit({
        name,
        version: stored.version,
        state: isTombstone(stored) ? null : stored,
        transition: null,
      });
    }
  }

  #onRedisChange(change: CircuitStateChange): void {
    if (this.#closed) return;
    // Every pushed change is mirrored: a circuit another instance opened stays open here through an
    // outage even if this instance never called it yet.
    if (change.state === null) {
      const decidedAt = change.decidedAt ?? this.clock.now();
      this.#take(change.name, { deleted: true, version: change.version, decidedAt });
    } else {
      this.#take(change.name, change.state);
    }
    this.#emit(change);
  }

  /** What the mirror decides while it serves (transitions, setState, deletions) reaches subscribers. */
  #onMirrorChange(change: CircuitStateChange): void {
    if (this.#closed) return;
    this.#handedOutFromMirror(change.name, change.version);
    this.#emit(change);
  }

  #handedOutFromMirror(name: string, version: number): void {
    const record = this.#book.get(name);
    if (version > record.fromMirror) record.fromMirror = version;
    if (version > record.delivered) record.delivered = version;
  }

  #emit(change: CircuitStateChange): void {
    this.#listeners.emit(change);
  }

  // ------------------------------------------------------------------------------------------
  // the seed's operations

  /**
   * The circuit's state (the seed's `get_state`): from Redis while it is usable, else from memory.
   * When Redis no longer has a circuit whose mirrored copy still protects callers (open, half-open
   * or overridden: Redis restarted empty, evicted it, was flushed), that copy is written back first.
   * A deleted circuit stays deleted.
   */
  async getState(name: string): Promise<CircuitStateData | undefined> {
    validateCircuitName(name);
    this.#assertOpen();
    const stored = await this.#route(
      name,
      'getState',
      async () => {
        const peeking = this.#redis.peek(name);
        const expedited = this.#expedited.size > 0 ? this.#expedited.get(name) : undefined;
        if (expedited !== undefined) {
          if (expedited > 1) this.#expedited.set(name, expedited - 1);
          else this.#expedited.delete(name);
          this.#redis.expedite(name);
        }
        return (await peeking) ?? (await this.#reseed(name));
      },
      () => this.#mirror.getState(name),
      (entry) => entry,
      false,
    );
    return isTombstone(stored) ? undefined : stored;
  }

  /**
   * Sends a queued read of `name` now, ahead of the burst it waits behind: a call waiting for its
   * circuit's first read is answered within the operation timeout (from memory past it), not when
   * the reads queued before it are done.
   */
  expedite(name: string): void {
    // Queued here: it starts now, and is sent ahead in the Redis store too (see getState). Already
    // past this queue: it may wait in the store's (behind a reconciliation's reads).
    const started = this.#reads.expedite(name);
    if (started > 0) this.#expedited.set(name, (this.#expedited.get(name) ?? 0) + started);
    else this.#redisOrNull?.expedite(name);
  }

  /** Writes the mirror's copy back when Redis lost the circuit and the copy still protects callers. */
  async #reseed(name: string): Promise<StoredCircuit | undefined> {
    if (this.#book.isPending(name) || !protects(this.#mirror.peek(name), this.clock.now())) return undefined;
    return this.#book.exclusive(name, async () => {
      const mirrored = this.#mirror.peek(name);
      if (mirrored === undefined || !protects(mirrored, this.clock.now())) return undefined;
      const result = await this.#redis.compareAndSet(name, 0, mirrored);
      return result.state;
    });
  }

  /**
   * Replaces the circuit's state (the seed's `set_state`) so that it takes effect fleet-wide.
   * @returns `true` when Redis took the write (or, memory only, the memory store), `false` when only
   *   the in-memory fallback did (it is merged into Redis when Redis is back).
   * @throws {InvalidStateDataError} `data` is not valid state data (nothing is written).
   */
  async setState(name: string, data: CircuitStateData): Promise<boolean> {
    validateCircuitName(name);
    assertStateData(data);
    this.#assertOpen();
    let written = false;
    await this.#route(
      name,
      'setState',
      async () => {
        const stored = await this.#redis.replaceState(name, data);
        written = true;
        return stored;
      },
      async () => {
        await this.#mirror.setState(name, data);
        // Written for good only when memory is the store of record (memory only).
        written = this.#manager === null;
        return this.#mirror.peek(name);
      },
      (entry) => entry,
      true,
    );
    return written;
  }

  /**
   * Deletes the circuit's state (the seed's `delete_state`) from Redis and memory, leaving a
   * tombstone so that the deletion holds fleet-wide. During an outage the deletion is made in memory
   * and merged into Redis when it is back.
   * @returns `true` when there was a state.
   */
  async deleteState(name: string): Promise<boolean> {
    validateCircuitName(name);
    this.#assertOpen();
    const tombstone = await this.#route(
      name,
      'deleteState',
      () => this.#redis.removeState(name),
      async () => {
        const existed = await this.#mirror.deleteState(name);
        const held = this.#mirror.peek(name);
        return existed && isTombstone(held) ? held : undefined;
      },
      (entry) => entry,
      true,
    );
    return tombstone !== undefined;
  }

  /**
   * Every circuit's state (the seed's `get_all_states`): Redis and memory merged, Redis taking
   * precedence except for circuits changed in memory and not yet merged. While Redis is unavailable,
   * memory only.
   */
  async getAllStates(): Promise<Map<string, CircuitStateData>> {
    this.#assertOpen();
    const states = await this.#mirror.getAllStates();
    if (this.redisAvailable) {
      try {
        const stored = await this.#bounded(this.#redis.getAllStates());
        for (const [name, data] of stored) {
          if (!this.#book.isPending(name)) states.set(name, data);
        }
        // Mirrored copies Redis no longer lists (deleted, expired) are not reported as current.
        for (const name of [...states.keys()]) {
          if (!stored.has(name) && !this.#book.isPending(name)) states.delete(name);
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
    const served = new Set(this.#listeners.names());
    this.#book.prune((name) => served.has(name) || this.#mirror.peek(name) !== undefined);
    return removed;
  }

  /** The seed's `get_fallback_status()`: circuits whose latest state is held only in memory. */
  getFallbackStatus(): FallbackStatus {
    const fallbackStates = this.#book.pending();
    return {
      fallbackStatesCount: fallbackStates.length,
      fallbackStates,
      mirroredStatesCount: this.#mirror.getStatus().statesCount,
    };
  }

  // ------------------------------------------------------------------------------------------
  // the atomic operations breakers use

  /**
   * Admits a call: one Redis round trip. Only when Redis answers for a circuit it has nothing for
   * while the mirror holds it open (Redis lost it) is the copy written back and the call admitted
   * again, so Redis never admits calls on a fresh closed circuit it forgot.
   */
  async acquire(name: string, policy: CircuitPolicy, request: AcquireRequest): Promise<AcquireResult> {
    validateCircuitName(name);
    this.#assertOpen();
    return this.#route(
      name,
      'acquire',
      async () => {
        const result = await this.#redis.acquire(name, policy, request);
        if (!isUnwritten(result.state) || (await this.#reseed(name)) === undefined) return result;
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
      'record',
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
      'override',
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
      'reset',
      () => this.#redis.reset(name, policy),
      () => this.#mirror.reset(name, policy),
      (data) => data,
      true,
    );
  }

  /**
   * Delivers changes pushed by Redis, what the mirror decides while it serves, and what a
   * reconciliation settles. A view subscribed by name is current again after every reconnect.
   */
  subscribe(listener: (change: CircuitStateChange) => void, options: SubscribeOptions = {}): Disposable {
    this.#assertOpen();
    // No book record yet: one is made when the circuit first has something to note (a reply, a
    // pending change); until then every reader takes a missing record for a fresh one.
    return this.#listeners.subscribe(listener, options);
  }

  /** Delivers `name`'s changes to `receiver` until {@link unwatch}, as a subscription by name does. */
  watch(name: string, receiver: ChangeReceiver): void {
    this.#assertOpen();
    this.#listeners.watch(name, receiver);
  }

  unwatch(name: string, receiver: ChangeReceiver): void {
    this.#listeners.unwatch(name, receiver);
  }

  /** Listens for finished reconciliations. */
  onReconciled(listener: (event: ReconciledEvent) => void): Disposable {
    return this.#reconciledListeners.add(listener);
  }

  /**
   * Listens for every store operation: where it was served, how long it took, and whether a change
   * reached only memory. With no listener nothing is timed or built.
   */
  onOperation(listener: (event: StoreOperationEvent) => void): Disposable {
    return this.#operationListeners.add(listener);
  }

  // ------------------------------------------------------------------------------------------
  // reconciliation

  /**
   * Merges every circuit changed in memory during an outage into Redis, writes back every mirrored
   * circuit Redis lost that still protects callers, and brings every served view up to date. Runs by
   * itself on recovery, reconnect, first connect and when lost state is detected; call it to force
   * one. Resolves once it (and any run it was coalesced with) finished.
   */
  async reconcile(): Promise<void> {
    const reconciler = this.#reconciler;
    if (reconciler === null) return;
    reconciler.request(true, 'manual');
    while (reconciler.running !== null) await reconciler.running;
  }

  /**
   * Stops background work and releases the stores. The connection manager stays open: it is the
   * caller's. A reconciliation in progress may finish its writes for up to one operation timeout.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    const running = this.#reconciler?.running ?? null;
    if (running !== null) {
      // It writes state this process may be the only holder of, but never holds close() up for long.
      let timer: unknown;
      await Promise.race([
        running,
        new Promise<void>((resolve) => {
          timer = this.#timers.setTimeout(resolve, this.#manager?.operationTimeoutMs ?? 0);
        }),
      ]);
      this.#timers.clearTimeout(timer);
    }
    this.#closed = true;
    this.#reconciler?.close();
    this.#reconciledListeners.clear();
    for (const subscription of this.#subscriptions.splice(0)) subscription.dispose();
    this.#listeners.clear();
    this.#operationListeners.clear();
    this.#book.clear();
    await this.#redisOrNull?.close();
    await this.#mirror.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

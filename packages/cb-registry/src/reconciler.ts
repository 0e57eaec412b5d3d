import {
  type Clock,
  effectiveStatus,
  isTombstone,
  Listeners,
  type StoredCircuit,
  StoreUnavailableError,
  type TimerHandle,
  type TimerProvider,
} from '@xnai/cb-core';
import type { RedisConnectionManager } from '@xnai/cb-redis-connection';
import type { MemoryStateStore } from '@xnai/cb-store-memory';
import type { RedisStateStore } from '@xnai/cb-store-redis';
import { monotonicNow } from '@xnai/kit';
import type { CircuitBook } from './circuit-book.js';
import { mergeStates, sameStateContent } from './merge.js';

/** Payload of {@link CircuitBreakerStateManager.onReconciled}. */
export interface ReconciledEvent {
  /** Circuits whose state was written to Redis (merged or re-seeded). */
  readonly merged: number;
  /**
   * Circuits changed on both sides (in memory during the outage and in Redis meanwhile), resolved by
   * the merge rules whether or not that meant a write.
   */
  readonly conflicting: number;
  /** Of those written, circuits Redis had lost and that were written back from memory. */
  readonly reseeded: number;
  /** Circuits looked at. */
  readonly checked: number;
  /** Circuits that could not be reconciled (Redis failed again); they stay pending. */
  readonly failed: number;
  /** Names written to Redis. */
  readonly circuits: readonly string[];
  /** Why the reconciliation ran. */
  readonly trigger: ReconcileTrigger;
  /** How long the run took, in milliseconds (the clock's `monotonic()` when it has one). */
  readonly durationMs: number;
  /** Epoch ms. */
  readonly at: number;
}

/** What started a reconciliation. */
export type ReconcileTrigger =
  | 'recovered'
  | 'connected'
  | 'reconnected'
  | 'state_lost'
  /** The events subscription came up: changes made before it was live were not pushed. */
  | 'subscribed'
  | 'pending'
  | 'manual';

/** What the reconciler needs from the state manager that owns it. */
export interface ReconcilerHost {
  readonly manager: RedisConnectionManager;
  readonly redis: RedisStateStore;
  readonly mirror: MemoryStateStore;
  readonly book: CircuitBook;
  readonly timers: Clock & TimerProvider;
  /** Redis time, whole ms. */
  readonly clock: Clock;
  /** Key whose disappearance tells that Redis lost its data; `null` turns the check off. */
  readonly markerKey: string;
  readonly stateCheckIntervalMs: number | null;
  /** Names subscribers listen to: views that must be current after a reconnect. */
  servedNames(): Iterable<string>;
  /** Bounds a Redis operation by the connection manager's operation timeout. */
  bounded<T>(operation: Promise<T>): Promise<T>;
  /**
   * Redis holds `stored` (or nothing) for `name`: the mirror takes it and views hear of it if new.
   * `readAfter` is the circuit's last Redis version seen before
   * that was read, so that a change pushed meanwhile is not undone by a read that found nothing.
   */
  settle(name: string, stored: StoredCircuit | undefined, readAfter?: number): void;
  isClosed(): boolean;
}

const MAX_MERGE_ATTEMPTS = 5;
/**
 * Circuits reconciled at once. Their reads, asked for in the same turn of the event loop, reach
 * Redis as one pipeline of plain HGETs (the Redis store batches them): 1,000 circuits take about
 * 16 round trips.
 */
const RECONCILE_CONCURRENCY = 64;
/** First retry of circuits that stay pending while Redis is up; doubles per failed run. */
const PENDING_RETRY_MS = 100;
const PENDING_RETRY_MAX_MS = 5_000;

/**
 * Whether a copy still protects callers: open, half-open, or overridden. Only such a copy is written
 * back when Redis no longer has the circuit: a closed circuit without override is what an absent one
 * means anyway, so re-seeding it would only undo an expiry.
 */
export function protects(stored: StoredCircuit | undefined, now: number): boolean {
  if (stored === undefined || isTombstone(stored)) return false;
  return effectiveStatus(stored, now) !== 'closed' || stored.override !== null;
}

/**
 * Brings Redis and this instance's warm mirror back in step: after an outage (recovered, reconnected,
 * connected), when Redis lost its data (state_lost), when an operation failed while Redis was up
 * (pending), or on request. One run at a time; requests during a run coalesce into one more run.
 */
export class Reconciler {
  readonly #host: ReconcilerHost;
  readonly #listeners = new Listeners<ReconciledEvent>();
  #running: Promise<void> | null = null;
  #again: { all: boolean; trigger: ReconcileTrigger } | null = null;
  #pendingTimer: TimerHandle | null = null;
  #pendingDelayMs = PENDING_RETRY_MS;
  #stateCheckTimer: TimerHandle | null = null;
  /** The marker value this instance last saw; `undefined` before the first check (a baseline). */
  #marker: string | undefined;
  readonly #tokenBase = `${Date.now().toString(36)}.${Math.random().toString(36).slice(2)}`;
  #tokens = 0;

  constructor(host: ReconcilerHost) {
    this.#host = host;
  }

  get running(): Promise<void> | null {
    return this.#running;
  }

  onReconciled(listener: (event: ReconciledEvent) => void) {
    return this.#listeners.add(listener);
  }

  /** Starts a run (or coalesces into the next); `all` covers every mirrored and served circuit. */
  request(all: boolean, trigger: ReconcileTrigger): void {
    if (this.#host.isClosed()) return;
    if (this.#running !== null) {
      const previous = this.#again;
      this.#again = { all: all || (previous?.all ?? false), trigger: previous?.trigger ?? trigger };
      return;
    }
    this.#running = this.#run(all, trigger).finally(() => {
      this.#running = null;
      const again = this.#again;
      this.#again = null;
      if (again !== null) this.request(again.all, again.trigger);
    });
  }

  /** A reconciliation of the pending circuits soon, backing off while runs keep failing. */
  schedulePending(): void {
    if (this.#pendingTimer !== null || this.#host.isClosed()) return;
    this.#pendingTimer = this.#host.timers.setTimeout(() => {
      this.#pendingTimer = null;
      this.request(false, 'pending');
    }, this.#pendingDelayMs);
  }

  async #run(all: boolean, trigger: ReconcileTrigger): Promise<void> {
    const host = this.#host;
    if (!host.manager.isConnected) return;
    const started = monotonicNow(host.timers);
    const names = new Set(host.book.pending());
    if (all) {
      for (const name of host.mirror.getStatus().states) names.add(name);
      for (const name of host.servedNames()) names.add(name);
    }
    const queue = [...names];
    // Taken by index: shift() on an array of 100,000 names is quadratic in V8 (11.8 s here).
    let next = 0;
    const written: string[] = [];
    let conflicting = 0;
    let reseeded = 0;
    let failed = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        if (next >= queue.length || host.isClosed()) return;
        const name = queue[next] as string;
        next += 1;
        try {
          const outcome = await host.book.exclusive(name, () => this.#reconcileOne(name));
          if (outcome.conflict) conflicting += 1;
          if (!outcome.written) continue;
          written.push(name);
          if (outcome.reseeded) reseeded += 1;
        } catch {
          failed += 1;
          if (!host.manager.isConnected) {
            failed += queue.length - next;
            next = queue.length;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(RECONCILE_CONCURRENCY, queue.length) }, worker));
    if (host.isClosed()) return;
    // Circuits that failed stay pending; retry them while Redis is up, less often each time (an OOM
    // Redis answers every write with an error: it must not be asked ten times a second forever).
    if (failed > 0) {
      this.#pendingDelayMs = Math.min(this.#pendingDelayMs * 2, PENDING_RETRY_MAX_MS);
      if (host.manager.isConnected) this.schedulePending();
    } else {
      this.#pendingDelayMs = PENDING_RETRY_MS;
    }
    if (names.size > 0 || trigger !== 'pending') {
      this.#listeners.emit({
        merged: written.length,
        conflicting,
        reseeded,
        checked: names.size,
        failed,
        circuits: written,
        trigger,
        durationMs: Math.max(0, monotonicNow(host.timers) - started),
        at: host.clock.now(),
      });
    }
  }

  /**
   * Reconciles one circuit (under its lock). A pending circuit gets `mergeStates(redis, mirror)`; any
   * other gets Redis's copy, or — when Redis has nothing, not even a deletion — the mirror's, but
   * only while it still protects callers. Written with a version-fenced compare-and-set; up to five
   * attempts when Redis or the mirror changed meanwhile.
   */
  async #reconcileOne(name: string): Promise<{ written: boolean; conflict: boolean; reseeded: boolean }> {
    const host = this.#host;
    for (let attempt = 0; attempt < MAX_MERGE_ATTEMPTS; attempt++) {
      const pendingFrom = host.book.peek(name)?.pendingFrom ?? null;
      const seenBefore = host.book.peek(name)?.redisVersion ?? -1;
      const stored = await host.bounded(host.redis.peek(name));
      const mirrored = host.mirror.peek(name);
      const conflict = pendingFrom !== null && stored !== undefined && stored.version !== pendingFrom;
      let merged: StoredCircuit | undefined;
      if (pendingFrom !== null) merged = mergeStates(stored, mirrored);
      else if (stored !== undefined) merged = stored;
      else merged = protects(mirrored, host.clock.now()) ? mirrored : undefined;
      // Versions this instance handed out from the mirror while Redis was away must be overtaken by
      // what Redis holds, or views that saw them would ignore Redis's outcome as older. So must every
      // version the mirror or the views hold: after Redis lost its data, its versions start again
      // from its clock, possibly at or below theirs (the same millisecond, a clock that stepped back).
      const record = host.book.peek(name);
      const handedOut = record?.fromMirror ?? 0;
      const seen = Math.max(handedOut, record?.delivered ?? 0, mirrored?.version ?? 0);
      if (
        merged === undefined ||
        (stored !== undefined &&
          sameStateContent(merged, stored) &&
          stored.version > handedOut &&
          (pendingFrom !== null || stored.version >= seen))
      ) {
        // Redis already holds the outcome (or nothing does): views that missed pushes catch up.
        host.settle(name, stored, seenBefore);
        return { written: false, conflict, reseeded: false };
      }
      // Written above every version seen here (compareAndSet writes above the version it is given).
      if (merged.version < seen) merged = { ...merged, version: seen };
      const result = await host.bounded(host.redis.compareAndSet(name, stored?.version ?? 0, merged));
      if (!result.written) continue;
      // Only if nothing changed the mirror meanwhile; otherwise merge again with that too.
      if (pendingFrom !== null && host.mirror.peek(name)?.version !== mirrored?.version) continue;
      host.settle(name, result.state);
      return { written: true, conflict, reseeded: stored === undefined };
    }
    throw new StoreUnavailableError(`Circuit "${name}" kept changing while it was reconciled`);
  }

  // ------------------------------------------------------------------------------------------
  // lost-state check

  /** Starts the periodic check for lost Redis data. */
  startStateCheck(): void {
    this.#scheduleStateCheck(0);
  }

  #scheduleStateCheck(delayMs: number): void {
    const interval = this.#host.stateCheckIntervalMs;
    if (interval === null || this.#host.isClosed()) return;
    this.#stateCheckTimer = this.#host.timers.setTimeout(() => {
      this.#stateCheckTimer = null;
      void this.#checkState();
    }, delayMs);
  }

  /**
   * Redis lost its data (a restart without persistence, FLUSHALL) when the marker it holds is gone or
   * was replaced by another instance's since this one last looked. `SET NX GET` sets this instance's
   * token if the marker is missing and tells what was there, in one round trip.
   */
  async #checkState(): Promise<void> {
    const host = this.#host;
    try {
      if (!host.manager.isConnected) return;
      // A new token for every creation, so that each instance can tell a re-created marker apart.
      const token = `${this.#tokenBase}.${++this.#tokens}`;
      const previous = (await host.manager.execute((client) =>
        client.call('SET', host.markerKey, token, 'NX', 'GET'),
      )) as string | null;
      const current = previous ?? token;
      // Missing (we created it now), or created by someone else since we last looked. On a prefix
      // Redis never saw, the run finds every mirrored circuit in place and writes or announces nothing.
      const lost = previous === null || (this.#marker !== undefined && current !== this.#marker);
      this.#marker = current;
      if (lost && host.mirror.getStatus().statesCount > 0) this.request(true, 'state_lost');
    } catch {
      // Redis failed: the connection manager has seen it too and switches to fallback.
    } finally {
      this.#scheduleStateCheck(host.stateCheckIntervalMs ?? 0);
    }
  }

  /** Stops the timers; a run in progress sees the host closed and stops. */
  close(): void {
    const timers = this.#host.timers;
    if (this.#stateCheckTimer !== null) timers.clearTimeout(this.#stateCheckTimer);
    if (this.#pendingTimer !== null) timers.clearTimeout(this.#pendingTimer);
    this.#stateCheckTimer = null;
    this.#pendingTimer = null;
    this.#listeners.clear();
  }
}

import { type Clock, Listeners } from '@xnai/kit';
import {
  type CircuitStateData,
  type CircuitStatus,
  createInitialState,
  effectiveStatus,
} from './circuit-state.js';
import type { RecordedOutcomes } from './outcome-batch.js';
import type { CircuitPolicy } from './policy.js';
import type { CircuitStateChange, CircuitStateStore, Disposable, TransitionReason } from './store.js';
import { transition } from './transition.js';

/** Payload of {@link CircuitBreaker.onStateChange}. */
export interface StateChangeEvent {
  /** The circuit. */
  readonly name: string;
  /** The status before the change. */
  readonly from: CircuitStatus;
  /** The status after it. */
  readonly to: CircuitStatus;
  /** Why it changed; `synchronized` when the view took the store's state without a reason (a load, a refresh, a deletion). */
  readonly reason: TransitionReason | 'synchronized';
  /** Epoch ms of the change (the store's clock when the store made it). */
  readonly at: number;
}

/** Payload of {@link CircuitBreaker.onStoreError}: store I/O failed; the caller was not affected. */
export interface StoreErrorEvent {
  /** The circuit. */
  readonly name: string;
  /** The store operation that failed. */
  readonly operation: 'load' | 'refresh' | 'acquire' | 'record';
  /** What the store threw. */
  readonly error: unknown;
}

type ViewReason = StateChangeEvent['reason'];

function storedStatus(data: CircuitStateData): CircuitStatus {
  return data.override?.mode ?? data.state;
}

/** The view of every breaker before its first read: shared, since views are replaced, never mutated. */
const UNLOADED_VIEW: CircuitStateData = Object.freeze(createInitialState(0));

/**
 * A breaker's local view of its circuit, and how it is kept current: loaded on first use, replaced
 * by what the store returns and pushes (only when at least as new as anything seen), refreshed as a
 * backstop, and moved at once by this instance's own outcomes (optimistic local transitions). While
 * the breaker's own writes are in flight, newer data is held back so that a confirmation does not
 * undo an optimistic update still on its way.
 */
export class CircuitView {
  readonly #name: string;
  readonly #store: CircuitStateStore;
  readonly #policy: CircuitPolicy;
  readonly #storeClock: Clock;
  readonly #clock: Clock;
  readonly #refreshIntervalMs: number;
  #data: CircuitStateData = UNLOADED_VIEW;
  /** Highest version received from the store; -1 before the first read. */
  #confirmedVersion = -1;
  /** Newest data from the store that is held back while own writes are in flight. */
  #heldBack: CircuitStateData | null = null;
  #heldBackReason: ViewReason | null = null;
  #inFlight = 0;
  /** Counts what changed the view (local outcomes, write replies, pushes), so a read can tell it raced. */
  #changes = 0;
  /** Writes in flight, for flush(); allocated on the first write (an idle breaker stays small). */
  #writes: Set<Promise<void>> | null = null;
  #loaded = false;
  #loading: Promise<void> | null = null;
  #refreshing = false;
  lastRefresh = 0;
  #subscription: Disposable | null = null;
  #closed = false;
  #stateListeners: Listeners<StateChangeEvent> | null = null;
  #errorListeners: Listeners<StoreErrorEvent> | null = null;

  constructor(
    name: string,
    store: CircuitStateStore,
    policy: CircuitPolicy,
    clock: Clock,
    storeClock: Clock,
    refreshIntervalMs: number,
  ) {
    this.#name = name;
    this.#store = store;
    this.#policy = policy;
    this.#clock = clock;
    this.#storeClock = storeClock;
    this.#refreshIntervalMs = refreshIntervalMs;
  }

  get data(): CircuitStateData {
    return this.#data;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  /** The status callers see at `now` (the store's clock). */
  statusAt(now: number): CircuitStatus {
    return effectiveStatus(this.#data, now);
  }

  onStateChange(listener: (event: StateChangeEvent) => void): Disposable {
    this.#stateListeners ??= new Listeners();
    return this.#stateListeners.add(listener);
  }

  onStoreError(listener: (event: StoreErrorEvent) => void): Disposable {
    this.#errorListeners ??= new Listeners();
    return this.#errorListeners.add(listener);
  }

  storeError(operation: StoreErrorEvent['operation'], error: unknown): void {
    this.#errorListeners?.emit({ name: this.#name, operation, error });
  }

  // ------------------------------------------------------------------------------------------
  // loading and refreshing

  /** Subscribes to the circuit's pushed changes and reads it once. Resolves when loaded. */
  load(): Promise<void> {
    this.#loading ??= (async () => {
      this.#subscription = this.#store.subscribe((change) => this.#onPush(change), { name: this.#name });
      try {
        const issued = this.#changes;
        const data = await this.#store.getState(this.#name);
        if (data !== undefined) this.#applyRead(data, issued);
        else this.#confirmedVersion = Math.max(this.#confirmedVersion, 0);
      } catch (error) {
        this.storeError('load', error);
      }
      this.lastRefresh = this.#clock.now();
      this.#loaded = true;
      // Loaded for good: nothing awaits this promise again, so an idle breaker does not keep it.
      this.#loading = null;
    })();
    return this.#loading;
  }

  /** Starts a background re-read unless one is under way (the backstop refresh). */
  refreshInBackground(now: number): void {
    if (this.#refreshing) return;
    this.#refreshing = true;
    this.lastRefresh = now;
    const issued = this.#changes;
    this.#store.getState(this.#name).then(
      (data) => {
        this.#refreshing = false;
        this.#applyRead(data, issued);
      },
      (error: unknown) => {
        this.#refreshing = false;
        this.storeError('refresh', error);
      },
    );
  }

  /** When the view is older than `refreshIntervalMs`, a background re-read. */
  checkBackstop(now: number): void {
    if (now - this.lastRefresh >= this.#refreshIntervalMs) this.refreshInBackground(now);
  }

  /** Re-reads the circuit now and returns the refreshed view. */
  async refresh(): Promise<CircuitStateData> {
    if (!this.#loaded) {
      // The first load is this read when this call starts it: read once, not twice.
      const starting = this.#loading === null;
      await this.load();
      if (starting) return this.#data;
    }
    this.lastRefresh = this.#clock.now();
    const issued = this.#changes;
    const data = await this.#store.getState(this.#name);
    this.#applyRead(data, issued);
    return this.#data;
  }

  /**
   * Applies what a read returned. A read issued before the view last changed (a local outcome, a
   * write's reply, a push) may predate that change: then only strictly newer data is taken, and an
   * absent circuit is not taken at all.
   */
  #applyRead(data: CircuitStateData | undefined, issued: number): void {
    const raced = this.#changes !== issued;
    if (data === undefined) {
      if (!raced && this.#inFlight === 0) this.applyConfirmed(null, null);
      return;
    }
    if (raced && data.version <= this.#confirmedVersion) return;
    this.applyConfirmed(data, null);
  }

  #onPush(change: CircuitStateChange): void {
    if (this.#closed) return;
    this.applyConfirmed(
      change.state,
      change.transition?.reason ?? null,
      change.transition?.at,
      change.version,
    );
  }

  // ------------------------------------------------------------------------------------------
  // what the store says, and what this instance did

  /**
   * Takes data from the store when it is at least as new as anything seen. While own writes are in
   * flight it is held back: replacing the view then would undo optimistic updates still under way.
   * `null` is a deletion (of version `deletedVersion`, when known).
   */
  applyConfirmed(
    data: CircuitStateData | null,
    reason: ViewReason | null,
    at?: number,
    deletedVersion = 0,
  ): void {
    if (data === null) {
      // Deleted in the store: start over as a fresh closed circuit; older pushes no longer apply.
      if (deletedVersion < this.#confirmedVersion && deletedVersion > 0) return;
      this.#confirmedVersion = deletedVersion;
      this.#heldBack = null;
      this.#set(createInitialState(this.#storeClock.now()), reason ?? 'synchronized', at);
      return;
    }
    if (data.version >= this.#confirmedVersion) {
      this.#confirmedVersion = data.version;
      if (this.#inFlight > 0) {
        this.#heldBack = data;
        this.#heldBackReason = reason ?? this.#heldBackReason;
        return;
      }
      this.#heldBack = null;
      this.#set(data, reason ?? this.#heldBackReason, at);
      this.#heldBackReason = null;
    } else {
      this.#releaseHeldBack();
    }
  }

  /**
   * Applies outcomes to the view before the store confirms them, so this instance acts on them at
   * once (and announces the change with its real reason). Returns whether the status changed.
   */
  applyLocally(outcomes: RecordedOutcomes, jitter: number): boolean {
    const local = transition(
      this.#data,
      { type: 'record', outcomes, jitter },
      this.#policy,
      this.#storeClock.now(),
    );
    if (!local.changed) return false;
    this.#set(local.state, local.transition?.reason ?? null, local.transition?.at);
    return local.transition !== null;
  }

  /** Sends outcomes to the store without delaying anyone; the reply replaces the view. */
  send(outcomes: RecordedOutcomes, jitter: number): Promise<void> {
    this.#inFlight += 1;
    const write = this.#store.record(this.#name, outcomes, this.#policy, jitter).then(
      (state) => {
        this.#inFlight -= 1;
        this.applyConfirmed(state, null);
      },
      (error: unknown) => {
        this.#inFlight -= 1;
        this.storeError('record', error);
        this.#releaseHeldBack();
      },
    );
    if (this.#writes === null) this.#writes = new Set();
    const writes = this.#writes;
    const tracked = write.finally(() => writes.delete(tracked));
    writes.add(tracked);
    return tracked;
  }

  /** Resolves once every write in flight settled. */
  async settled(): Promise<void> {
    if (this.#writes !== null) await Promise.allSettled([...this.#writes]);
  }

  #releaseHeldBack(): void {
    if (this.#inFlight > 0 || this.#heldBack === null) return;
    const data = this.#heldBack;
    const reason = this.#heldBackReason;
    this.#heldBack = null;
    this.#heldBackReason = null;
    this.#set(data, reason);
  }

  #set(data: CircuitStateData, reason: ViewReason | null, at?: number): void {
    this.#changes += 1;
    const from = storedStatus(this.#data);
    this.#data = data;
    const to = storedStatus(data);
    if (from !== to && this.#stateListeners !== null) {
      this.#stateListeners.emit({
        name: this.#name,
        from,
        to,
        reason: reason ?? 'synchronized',
        at: at ?? data.lastStateChange,
      });
    }
  }

  /** Stops listening to the store and drops listeners. */
  close(): void {
    this.#closed = true;
    this.#subscription?.dispose();
    this.#subscription = null;
    this.#stateListeners = null;
    this.#errorListeners = null;
  }
}

import { Listeners, rethrowLater } from '@xnai/kit';
import type { BreakerSettings } from './breaker-settings.js';
import {
  type CircuitStateData,
  type CircuitStatus,
  createInitialState,
  effectiveStatus,
} from './circuit-state.js';
import type { RecordedOutcomes } from './outcome-batch.js';
import type { ChangeReceiver, CircuitStateChange, Disposable, TransitionReason } from './store.js';
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
export const UNLOADED_VIEW: CircuitStateData = Object.freeze(createInitialState(0));

/** Data held back while own writes are in flight, with the reason it came with. */
interface HeldBack {
  readonly data: CircuitStateData;
  readonly reason: ViewReason | null;
}

/** What a view holds only while its own writes are in flight (an idle view holds none of it). */
interface Writes {
  /** Writes whose reply has not been applied yet. */
  inFlight: number;
  /** Every write not settled yet, for flush(). */
  readonly all: Set<Promise<void>>;
  /** Newest data from the store, held back until the replies are in. */
  heldBack: HeldBack | null;
}

/** What only some views have: listeners, or a subscription on a store that cannot be watched. */
interface Extras {
  subscription: Disposable | null;
  stateListeners: Listeners<StateChangeEvent> | null;
  errorListeners: Listeners<StoreErrorEvent> | null;
}

// Bits of `CircuitView.#flags`: one field instead of a boolean each (a view lives as long as its breaker).
const LOADED = 1;
const REFRESHING = 2;
const CLOSED = 4;
const WATCHED = 8;
/** The breaker is closing: the settings' `onStateChange` hears nothing more from this view. */
const UNRELAYED = 16;

/**
 * First loads under way, by view (resolving `true` when the read succeeded): kept here rather than
 * in a field, since a view loads once and then lives as long as its breaker.
 */
const LOADS = new WeakMap<CircuitView, Promise<boolean>>();

/**
 * A breaker's local view of its circuit, and how it is kept current: loaded on first use, replaced
 * by what the store returns and pushes (only when at least as new as anything seen), refreshed as a
 * backstop, and moved at once by this instance's own outcomes (optimistic local transitions). While
 * the breaker's own writes are in flight, newer data is held back so that a confirmation does not
 * undo an optimistic update still on its way.
 */
export class CircuitView implements ChangeReceiver {
  readonly #name: string;
  /** The breaker's settings (store, policy, clocks, refresh interval), shared by breakers alike. */
  readonly #settings: BreakerSettings;
  #data: CircuitStateData = UNLOADED_VIEW;
  /** Highest version received from the store; -1 before the first read. */
  #confirmedVersion = -1;
  /** Counts what changed the view (local outcomes, write replies, pushes), so a read can tell it raced. */
  #changes = 0;
  /** Own writes in flight; allocated while there are any (an idle breaker stays small). */
  #writes: Writes | null = null;
  #flags = 0;
  /**
   * When the view was last read, on the breaker's clock; only kept with a backstop refresh, so that
   * views that need none hold no boxed number for it.
   */
  #lastRefresh = 0;
  /** Allocated when first needed: most views have no listener, and are watched by their store. */
  #extras: Extras | null = null;

  constructor(name: string, settings: BreakerSettings) {
    this.#name = name;
    this.#settings = settings;
  }

  get data(): CircuitStateData {
    return this.#data;
  }

  get loaded(): boolean {
    return (this.#flags & LOADED) !== 0;
  }

  /** The status callers see at `now` (the store's clock). */
  statusAt(now: number): CircuitStatus {
    return effectiveStatus(this.#data, now);
  }

  onStateChange(listener: (event: StateChangeEvent) => void): Disposable {
    const extras = this.#extrasNow();
    extras.stateListeners ??= new Listeners();
    return extras.stateListeners.add(listener);
  }

  onStoreError(listener: (event: StoreErrorEvent) => void): Disposable {
    const extras = this.#extrasNow();
    extras.errorListeners ??= new Listeners();
    return extras.errorListeners.add(listener);
  }

  storeError(operation: StoreErrorEvent['operation'], error: unknown): void {
    this.#extras?.errorListeners?.emit({ name: this.#name, operation, error });
  }

  #extrasNow(): Extras {
    this.#extras ??= { subscription: null, stateListeners: null, errorListeners: null };
    return this.#extras;
  }

  // ------------------------------------------------------------------------------------------
  // loading and refreshing

  /**
   * Subscribes to the circuit's pushed changes and reads it once. Resolves when loaded: `true` when
   * the read succeeded (a failed one is reported as a store error and leaves the view as it was).
   */
  load(): Promise<boolean> {
    let loading = LOADS.get(this);
    if (loading === undefined) {
      loading = this.#load();
      LOADS.set(this, loading);
    }
    return loading;
  }

  /** A call waits for the load under way: the store sends its read ahead of queued ones. */
  expediteLoad(): void {
    this.#settings.store.expedite?.(this.#name);
  }

  async #load(): Promise<boolean> {
    const store = this.#settings.store;
    if ((this.#flags & CLOSED) !== 0) {
      // Closed before it loaded (a refresh after close): nothing will unwatch, so watch nothing.
    } else if (store.watch !== undefined && store.unwatch !== undefined) {
      // The store delivers to the view itself: no listener function or subscription object per view.
      store.watch(this.#name, this);
      this.#flags |= WATCHED;
    } else {
      // A bound method rather than an arrow function: no context object is kept for it, for life.
      this.#extrasNow().subscription = store.subscribe(this.receiveChange.bind(this), { name: this.#name });
    }
    let read = true;
    try {
      const issued = this.#changes;
      const data = await store.getState(this.#name);
      if (data !== undefined) this.#applyRead(data, issued);
      else this.#confirmedVersion = Math.max(this.#confirmedVersion, 0);
    } catch (error) {
      read = false;
      this.storeError('load', error);
    }
    this.#markRefreshed();
    this.#flags |= LOADED;
    // Loaded for good: nothing awaits this promise again, so an idle breaker does not keep it.
    LOADS.delete(this);
    return read;
  }

  /** Notes that the view was just read (only with a backstop refresh, which is what reads it). */
  #markRefreshed(): void {
    if (this.#settings.refreshIntervalMs !== Number.POSITIVE_INFINITY) {
      this.#lastRefresh = this.#settings.clock.now();
    }
  }

  /** Starts a background re-read unless one is under way (the backstop refresh). */
  refreshInBackground(now: number): void {
    if ((this.#flags & REFRESHING) !== 0) return;
    this.#flags |= REFRESHING;
    this.#lastRefresh = now;
    const issued = this.#changes;
    this.#settings.store.getState(this.#name).then(
      (data) => {
        this.#flags &= ~REFRESHING;
        this.#applyRead(data, issued);
      },
      (error: unknown) => {
        this.#flags &= ~REFRESHING;
        this.storeError('refresh', error);
      },
    );
  }

  /** When the view is older than `refreshIntervalMs`, a background re-read. */
  checkBackstop(now: number): void {
    if (now - this.#lastRefresh >= this.#settings.refreshIntervalMs) this.refreshInBackground(now);
  }

  /** Re-reads the circuit now and returns the refreshed view. */
  async refresh(): Promise<CircuitStateData> {
    if (!this.loaded) {
      const starting = !LOADS.has(this);
      // A load this call started has just read the circuit: a second read would tell nothing more
      // (and doubles the reads of a registry registering thousands of circuits at once).
      if ((await this.load()) && starting) return this.#data;
    }
    this.#markRefreshed();
    const issued = this.#changes;
    const data = await this.#settings.store.getState(this.#name);
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
      // The store has nothing for a circuit this view never saw anything of: the view stays the
      // shared unloaded one (a fresh closed circuit), as a first load leaves it, instead of a copy.
      if (this.#data === UNLOADED_VIEW) this.#confirmedVersion = Math.max(this.#confirmedVersion, 0);
      else if (!raced && (this.#writes?.inFlight ?? 0) === 0) this.applyConfirmed(null, null);
      return;
    }
    if (raced && data.version <= this.#confirmedVersion) return;
    this.applyConfirmed(data, null);
  }

  /** A change the store pushed (its watch or subscription delivers here). */
  receiveChange(change: CircuitStateChange): void {
    if ((this.#flags & CLOSED) !== 0) return;
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
      if (this.#writes !== null) this.#writes.heldBack = null;
      this.#set(createInitialState(this.#settings.storeClock.now()), reason ?? 'synchronized', at);
      return;
    }
    if (data.version >= this.#confirmedVersion) {
      this.#confirmedVersion = data.version;
      const writes = this.#writes;
      const heldReason = writes?.heldBack?.reason ?? null;
      if (writes !== null && writes.inFlight > 0) {
        writes.heldBack = { data, reason: reason ?? heldReason };
        return;
      }
      if (writes !== null) writes.heldBack = null;
      this.#set(data, reason ?? heldReason, at);
    } else {
      this.#releaseHeldBack();
    }
  }

  /**
   * Applies outcomes to the view before the store confirms them, so this instance acts on them at
   * once (and announces the change with its real reason). Returns whether the status changed.
   */
  applyLocally(outcomes: RecordedOutcomes, jitter: number): boolean {
    const settings = this.#settings;
    const local = transition(
      this.#data,
      { type: 'record', outcomes, jitter },
      settings.policy,
      settings.storeClock.now(),
    );
    if (!local.changed) return false;
    this.#set(local.state, local.transition?.reason ?? null, local.transition?.at);
    return local.transition !== null;
  }

  /** Sends outcomes to the store without delaying anyone; the reply replaces the view. */
  send(outcomes: RecordedOutcomes, jitter: number): Promise<void> {
    this.#writes ??= { inFlight: 0, all: new Set(), heldBack: null };
    const writes = this.#writes;
    writes.inFlight += 1;
    const settings = this.#settings;
    const write = settings.store.record(this.#name, outcomes, settings.policy, jitter).then(
      (state) => {
        writes.inFlight -= 1;
        this.applyConfirmed(state, null);
      },
      (error: unknown) => {
        writes.inFlight -= 1;
        this.storeError('record', error);
        this.#releaseHeldBack();
      },
    );
    const tracked = write.finally(() => {
      writes.all.delete(tracked);
      // Dropped once every write settled: a breaker that wrote once keeps none of it for life.
      if (writes.all.size === 0 && writes.inFlight === 0 && this.#writes === writes) this.#writes = null;
    });
    writes.all.add(tracked);
    return tracked;
  }

  /** Resolves once every write in flight settled. */
  async settled(): Promise<void> {
    if (this.#writes !== null) await Promise.allSettled([...this.#writes.all]);
  }

  #releaseHeldBack(): void {
    const writes = this.#writes;
    const held = writes?.heldBack ?? null;
    if (writes === null || writes.inFlight > 0 || held === null) return;
    writes.heldBack = null;
    this.#set(held.data, held.reason);
  }

  #set(data: CircuitStateData, reason: ViewReason | null, at?: number): void {
    this.#changes += 1;
    const from = storedStatus(this.#data);
    this.#data = data;
    const to = storedStatus(data);
    if (from === to) return;
    const listeners = this.#extras?.stateListeners;
    const relay = (this.#flags & UNRELAYED) === 0 ? this.#settings.onStateChange : null;
    if (listeners == null && relay === null) return;
    const event: StateChangeEvent = {
      name: this.#name,
      from,
      to,
      reason: reason ?? 'synchronized',
      at: at ?? data.lastStateChange,
    };
    if (relay !== null) {
      try {
        relay(event);
      } catch (error) {
        rethrowLater(error);
      }
    }
    listeners?.emit(event);
  }

  /** The breaker is closing: its `onStateChange` option is told nothing more. */
  stopRelay(): void {
    this.#flags |= UNRELAYED;
  }

  /** Stops listening to the store and drops listeners. */
  close(): void {
    this.#flags |= CLOSED | UNRELAYED;
    const store = this.#settings.store;
    // Only a view that loaded was watched or subscribed.
    if (this.#extras?.subscription != null) this.#extras.subscription.dispose();
    else if ((this.#flags & WATCHED) !== 0) store.unwatch?.(this.#name, this);
    this.#flags &= ~WATCHED;
    this.#extras = null;
  }
}

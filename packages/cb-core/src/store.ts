import type { Clock, Disposable } from '@xnai/kit';
import type { CircuitOverride, CircuitStateData, CircuitStatus, OverrideMode } from './circuit-state.js';
import type { RecordedOutcomes } from './outcome-batch.js';
import type { CircuitPolicy } from './policy.js';

export type { Disposable };

/** Why a circuit's status changed. */
export type TransitionReason =
  | 'failure_threshold'
  | 'failure_rate'
  | 'slow_call_rate'
  | 'open_timeout_elapsed'
  | 'probe_failure'
  | 'probe_success_threshold'
  | 'forced_open'
  | 'forced_closed'
  | 'override_cleared'
  | 'override_expired'
  | 'reset'
  | 'set'
  | 'merged';

/** A change of a circuit's status, as announced once by the store write that made it. */
export interface CircuitTransition {
  /** The status before the write. */
  readonly from: CircuitStatus;
  /** The status after it. */
  readonly to: CircuitStatus;
  /** Why the status changed. */
  readonly reason: TransitionReason;
  /** Epoch ms, by the store's clock. */
  readonly at: number;
}

/** A half-open probe permit as handed to the caller, to be returned with the outcome. */
export interface ProbeTicket {
  /** The lease's id (the `leaseId` of the call that took it). */
  readonly id: string;
  /** The half-open round the permit belongs to. */
  readonly round: number;
}

/** How a call ended: `ignored` outcomes count neither way (and only release a probe permit). */
export type OutcomeKind = 'success' | 'failure' | 'ignored';

/** One call's outcome, as a breaker records it with {@link CircuitStateStore.record}. */
export interface CallOutcome {
  /** How the call ended. */
  readonly kind: OutcomeKind;
  /** The call took at least the policy's `slowCallDurationMs`. */
  readonly slow?: boolean;
  /** The probe permit the call ran under, when it was a half-open probe. */
  readonly probe?: ProbeTicket | null;
}

/** Why a call was not admitted. */
export type RejectionReason = 'open' | 'half_open_full' | 'forced_open';

/** The store's answer to "may a call run now?". */
export type Admission =
  | { readonly allowed: true; readonly probe: ProbeTicket | null }
  | {
      readonly allowed: false;
      readonly reason: RejectionReason;
      /** Epoch ms at which a call may be admitted again, or `null` when unknown (manual override). */
      readonly retryAt: number | null;
    };

/** What a breaker sends with {@link CircuitStateStore.acquire}. */
export interface AcquireRequest {
  /** Identifier of the probe lease, unique per call. */
  readonly leaseId: string;
  /** Integer in [0, JITTER_SCALE) for the open-period jitter, should this call open the circuit. */
  readonly jitter?: number;
}

/** The store's answer to {@link CircuitStateStore.acquire}. */
export interface AcquireResult {
  /** Whether the call may run, and under which probe permit. */
  readonly admission: Admission;
  /** The circuit's state after the admission. */
  readonly state: CircuitStateData;
}

/** Requested override; `setAt` (and the expiry of a `durationMs`) are filled in by the store's clock. */
export interface OverrideRequest {
  /** `forced_open` or `forced_closed`. */
  readonly mode: OverrideMode;
  /** Shown in status and events; at most 1,024 characters. */
  readonly reason?: string | null;
  /**
   * How long the override holds, resolved against the store's clock (Redis time for a Redis store),
   * so instances whose clocks are off still agree. Takes precedence over `expiresAt`.
   */
  readonly durationMs?: number | null;
  /** Epoch ms (the store's clock) at which the override lapses; `null` or absent for none. */
  readonly expiresAt?: number | null;
}

/** A change pushed to subscribers. `state` is `null` when the circuit was deleted. */
export interface CircuitStateChange {
  /** The circuit. */
  readonly name: string;
  /** The state's version, or the deletion's (its tombstone's). */
  readonly version: number;
  /** The state written, or `null` for a deletion. */
  readonly state: CircuitStateData | null;
  /** The status change this write made, or `null` when the status stayed the same. */
  readonly transition: CircuitTransition | null;
  /** For a deletion: when it was decided (its tombstone's `decidedAt`), when the store tells. */
  readonly decidedAt?: number;
}

/** Options of {@link CircuitStateStore.subscribe}. */
export interface SubscribeOptions {
  /**
   * Deliver only changes of this circuit.
   * @default every circuit's changes
   */
  readonly name?: string;
}

/** Receives one circuit's pushed changes (see {@link CircuitStateStore.watch}). */
export interface ChangeReceiver {
  receiveChange(change: CircuitStateChange): void;
}

/**
 * Where circuit state lives. One contract for every backend; the shared contract suite in
 * `tooling/test-utils` holds each implementation to the same semantics.
 *
 * The first four operations are the seed design's (`get_state`, `set_state`, `delete_state`,
 * `get_all_states`). The rest are atomic: each applies {@link transition} to the stored state in
 * one step, so concurrent callers across processes never lose an update.
 */
export interface CircuitStateStore {
  /** The version of this contract the store implements. */
  readonly specificationVersion: 'v1';
  /** `true` when state lives in this process only (no other instance can see it). */
  readonly local: boolean;
  /**
   * `true` when the store makes sure its subscribers miss no change: it verifies its push channel
   * itself (for all its circuits at once) and, when a change may have been missed (a reconnect),
   * delivers the current state of every circuit subscribed by name. Breakers on such a store need
   * no periodic re-read of their own (`refreshIntervalMs`), which keeps the store's load at rest
   * independent of the number of circuits. Absent: `false`.
   */
  readonly verifiesPushes?: boolean;
  /**
   * How many deferred writes (sliding-window batches that trip nothing) all breakers on this store
   * may send per second together. The store's write rate at rest then stays within it whatever the
   * number of circuits; a batch that trips its circuit is sent at once regardless. Absent: no budget
   * (each breaker sends its batch every `recordIntervalMs`).
   */
  readonly deferredWritesPerSecond?: number | undefined;
  /**
   * Time as the store judges it (Redis time for a Redis store). Breakers compare stored times such
   * as `openUntil` against it, so instances whose own clocks disagree still agree on when an open
   * period ends. Absent: the breaker's clock.
   */
  readonly clock?: Clock;
  /** The stored state, or `undefined` when the circuit has none (it expired or was deleted). */
  getState(name: string): Promise<CircuitStateData | undefined>;
  /**
   * A caller now waits for a {@link getState} of `name` already asked for: a store that paces its
   * reads (a burst of first reads at start waits its turn) sends that one ahead of the others.
   * Breakers call it when a call waits for its circuit's first read. Absent: reads are not queued.
   */
  expedite?(name: string): void;
  /**
   * Replaces the stored state (the seed's `set_state`) so that it takes effect fleet-wide: the data
   * is written as given except for its `version`, which the store sets above the stored one (so every
   * view takes it), and its `decidedAt` (now: an operator decision). The change is pushed to every
   * subscriber. Resolves `true` when written.
   * @throws {InvalidStateDataError} `data` is not valid state data (nothing is written).
   */
  setState(name: string, data: CircuitStateData): Promise<boolean>;
  /**
   * Deletes the circuit's state, leaving a tombstone for the TTL so that the deletion holds fleet-wide
   * (a stale copy is not written back). Resolves `true` when there was a state.
   */
  deleteState(name: string): Promise<boolean>;
  /** Every stored circuit's state, by name (the seed's `get_all_states`); deleted circuits are left out. */
  getAllStates(): Promise<Map<string, CircuitStateData>>;
  /** Admits a call, leases a half-open probe, or rejects until a time. */
  acquire(name: string, policy: CircuitPolicy, request: AcquireRequest): Promise<AcquireResult>;
  /**
   * Records outcomes and returns the resulting state. A list is applied as one batch, exactly as
   * its reduction ({@link reduceOutcomes}) would be: the outcomes admitted while closed join the
   * counters and the window together and the trip is judged once on the result; then probe outcomes
   * in order. Stores check a reduced {@link OutcomeBatch} before they write anything.
   */
  record(
    name: string,
    outcomes: RecordedOutcomes,
    policy: CircuitPolicy,
    jitter?: number,
  ): Promise<CircuitStateData>;
  /** Sets (or with `null` clears) the manual override. */
  override(name: string, override: OverrideRequest | null, policy: CircuitPolicy): Promise<CircuitStateData>;
  /** Closes the circuit, clears counters, override, probes and backoff. */
  reset(name: string, policy: CircuitPolicy): Promise<CircuitStateData>;
  /** Pushes every change (or one circuit's) to `listener`, newest version last. */
  subscribe(listener: (change: CircuitStateChange) => void, options?: SubscribeOptions): Disposable;
  /**
   * Delivers the changes of circuit `name` to `receiver` (its `receiveChange`) until
   * {@link unwatch}, exactly as a subscription by name would. What breakers use when the store has
   * it: thousands of idle breakers then hold no listener function and no subscription object each.
   * A store has both `watch` and `unwatch` or neither.
   * @throws {InvalidCircuitNameError} `name` is not a valid circuit name.
   */
  watch?(name: string, receiver: ChangeReceiver): void;
  /** Stops what {@link watch} started for this `name` and `receiver`. No effect otherwise. */
  unwatch?(name: string, receiver: ChangeReceiver): void;
  /** Stops background work and releases what the store owns. Idempotent. */
  close(): Promise<void>;
}

/** Re-exported for implementers. */
export type { CircuitOverride };

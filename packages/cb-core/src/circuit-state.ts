/** The three states of the breaker's state machine. */
export type CircuitState = 'closed' | 'open' | 'half_open';

/** A manual override that holds across the fleet until cleared or expired. */
export type OverrideMode = 'forced_open' | 'forced_closed';

/** What callers observe: the state machine's state, or the override that replaces it. */
export type CircuitStatus = CircuitState | OverrideMode;

/** Schema version of {@link CircuitStateData}; stores refuse data of another version. */
export const STATE_SCHEMA_VERSION = 1;

/** A manual override of a circuit, as stored. */
export interface CircuitOverride {
  /** `forced_open` rejects every call; `forced_closed` admits every call and counts none. */
  readonly mode: OverrideMode;
  /** Free text shown in status and events, or `null`. */
  readonly reason: string | null;
  /** Epoch ms after which the override no longer applies, or `null` for no expiry. */
  readonly expiresAt: number | null;
  /** Epoch ms at which the override was set. */
  readonly setAt: number;
}

/** A half-open probe permit. It is released by the probe's outcome, or lapses at `expiresAt`. */
export interface ProbeLease {
  /** The lease's id (the `leaseId` of the call that took it). */
  readonly id: string;
  /** The half-open round the lease belongs to; outcomes of an earlier round are ignored. */
  readonly round: number;
  /** Epoch ms at which the lease lapses if its call never reports. */
  readonly expiresAt: number;
}

/** One bucket of a time-based sliding window. */
export interface TimeBucket {
  /** Epoch ms at which the bucket starts (a multiple of the bucket length). */
  readonly start: number;
  /** Calls recorded in the bucket. */
  readonly calls: number;
  /** Of those, failures. */
  readonly failures: number;
  /** Of those, slow calls (see `slowCallDurationMs`). */
  readonly slow: number;
}

/**
 * The sliding window of a circuit. A count window keeps the last N outcomes as one character each:
 * `s` success, `S` slow success, `f` failure, `F` slow failure (oldest first).
 */
export type CircuitWindow =
  | { readonly kind: 'none' }
  | { readonly kind: 'count'; readonly outcomes: string }
  | { readonly kind: 'time'; readonly buckets: readonly TimeBucket[] };

/**
 * Everything persisted for one circuit. The first six fields are the seed design's
 * `CircuitStateData`; the rest is what correctness across a fleet needs.
 * Times are epoch milliseconds (the seed used float seconds); `0` means "never".
 */
export interface CircuitStateData {
  /** The layout of this data ({@link STATE_SCHEMA_VERSION}). */
  readonly schemaVersion: typeof STATE_SCHEMA_VERSION;
  /** The state machine's state (`closed`, `open`, `half_open`), overrides aside. */
  readonly state: CircuitState;
  /** Consecutive failures since the last recorded success. */
  readonly failureCount: number;
  /** Consecutive recorded successes since the last failure (in half-open: toward `successThreshold`). */
  readonly successCount: number;
  /** Epoch ms of the last recorded failure; `0`: never. */
  readonly lastFailureTime: number;
  /** Epoch ms of the last recorded success; `0`: never. */
  readonly lastSuccessTime: number;
  /** Epoch ms of the last change of `state`; `0`: never. */
  readonly lastStateChange: number;
  /**
   * Grows with every write: `max(previous + 1, now * 1000)`, so it also exceeds every version seen
   * before a key was lost. A view applies pushed data only when its version is not older.
   */
  readonly version: number;
  /** Opens since the circuit last closed; drives the open-period backoff. */
  readonly consecutiveOpens: number;
  /** Epoch ms at which an open circuit may move to half-open; `0` when not open. */
  readonly openUntil: number;
  /** Counts half-open rounds, so a late outcome of an earlier round is recognised and ignored. */
  readonly halfOpenRound: number;
  /** The manual override in force (it may have lapsed: see `expiresAt`), or `null`. */
  readonly override: CircuitOverride | null;
  /** Probe permits leased in half-open, across every instance. */
  readonly probes: readonly ProbeLease[];
  /** The sliding window's recent outcomes (`kind: 'none'` without a window). */
  readonly window: CircuitWindow;
  /**
   * Epoch ms of the last **decision** about this circuit that the fleet must not lose: an operator
   * action (reset, override set or cleared, `setState`, delete) anywhere, or a status change made by
   * the store of record (Redis, for a shared store). A copy of the circuit that an instance kept
   * changing while it was cut off from the store keeps the decision it started from; when the two are
   * reconciled, the later decision wins (see `mergeStates` in `@xnai/cb-registry`). Each decision is
   * later than the one it follows, even when the clock steps back. `0`: none yet.
   */
  readonly decidedAt: number;
}

/**
 * What a store keeps of a deleted circuit, so that a deletion is told apart from lost data: an
 * instance that was cut off while the circuit was deleted does not write its older copy back. Kept
 * for the store's TTL. Reads report a deleted circuit as absent.
 */
export interface CircuitTombstone {
  /** Marks a deletion. */
  readonly deleted: true;
  /** Above every version the circuit had, so views take the deletion. */
  readonly version: number;
  /** When it was deleted (a decision, see {@link CircuitStateData.decidedAt}). */
  readonly decidedAt: number;
}

/** What a store holds for a name: a circuit's state, a deletion, or nothing. */
export type StoredCircuit = CircuitStateData | CircuitTombstone;

/** Whether `entry` is a deletion rather than a circuit's state. */
export function isTombstone(entry: StoredCircuit | undefined): entry is CircuitTombstone {
  return entry !== undefined && (entry as Partial<CircuitTombstone>).deleted === true;
}

const EMPTY_WINDOW: CircuitWindow = Object.freeze({ kind: 'none' });

/**
 * The state of a circuit nobody has written yet: closed, all counters at zero. After a deletion
 * (`tombstone`), the fresh circuit continues the deleted one's version and decision, so that views
 * take what is written next and a stale copy never outranks it.
 */
export function createInitialState(now: number, tombstone?: CircuitTombstone): CircuitStateData {
  return {
    schemaVersion: STATE_SCHEMA_VERSION,
    state: 'closed',
    failureCount: 0,
    successCount: 0,
    lastFailureTime: 0,
    lastSuccessTime: 0,
    lastStateChange: now,
    version: tombstone?.version ?? 0,
    consecutiveOpens: 0,
    openUntil: 0,
    halfOpenRound: 0,
    override: null,
    probes: [],
    window: EMPTY_WINDOW,
    decidedAt: tombstone?.decidedAt ?? 0,
  };
}

/**
 * The end of an open period as every instance judges it: `openUntil`, but never more than the
 * policy's `maxOpenTimeoutMs` after the transition that opened it, which itself never counts as later
 * than `now`. A year-long `openUntil` (a bug, a skewed writer, a mistaken operator) therefore keeps a
 * circuit open for at most one maximal open period. The same bound is applied by the TypeScript and
 * the Lua transition.
 */
export function boundedOpenUntil(
  data: Pick<CircuitStateData, 'openUntil' | 'lastStateChange'>,
  maxOpenTimeoutMs: number,
  now: number,
): number {
  return Math.min(data.openUntil, Math.min(data.lastStateChange, now) + maxOpenTimeoutMs);
}

/** The override in force at `now`, or `null` when there is none or it has expired. */
export function activeOverride(data: CircuitStateData, now: number): CircuitOverride | null {
  const override = data.override;
  if (override === null) return null;
  if (override.expiresAt !== null && now >= override.expiresAt) return null;
  return override;
}

/** What a caller sees at `now`: the override's mode while one is in force, else the state. */
export function effectiveStatus(data: CircuitStateData, now: number): CircuitStatus {
  return activeOverride(data, now)?.mode ?? data.state;
}

/**
 * When a store may forget what it holds for a circuit: `ttlMs` after the last thing in force ends
 * (the write at `now`, the open period, an override's expiry); never while an override without
 * expiry is in force. `Infinity` means "keep". A tombstone lasts `ttlMs` from `now`. Both stores (and
 * the Lua script's `PEXPIRE`/`PERSIST`) use this one rule, so that an override or an open period
 * never vanishes with the key.
 */
export function storedCircuitExpiry(entry: StoredCircuit, ttlMs: number, now: number): number {
  if (isTombstone(entry)) return now + ttlMs;
  let last = now;
  if (entry.state === 'open' && entry.openUntil > last) last = entry.openUntil;
  const override = entry.override;
  if (override !== null) {
    if (override.expiresAt === null) return Number.POSITIVE_INFINITY;
    if (override.expiresAt > last) last = override.expiresAt;
  }
  return last + ttlMs;
}

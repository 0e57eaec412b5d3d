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
  readonly id: string;
  /** The half-open round the lease belongs to; outcomes of an earlier round are ignored. */
  readonly round: number;
  readonly expiresAt: number;
}

/** One bucket of a time-based sliding window. */
export interface TimeBucket {
  /** Epoch ms at which the bucket starts (a multiple of the bucket length). */
  readonly start: number;
  readonly calls: number;
  readonly failures: number;
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
  readonly schemaVersion: typeof STATE_SCHEMA_VERSION;
  readonly state: CircuitState;
  /** Consecutive failures since the last recorded success. */
  readonly failureCount: number;
  /** Consecutive recorded successes since the last failure (in half-open: toward `successThreshold`). */
  readonly successCount: number;
  readonly lastFailureTime: number;
  readonly lastSuccessTime: number;
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
  readonly override: CircuitOverride | null;
  readonly probes: readonly ProbeLease[];
  readonly window: CircuitWindow;
}

const EMPTY_WINDOW: CircuitWindow = Object.freeze({ kind: 'none' });

/** The state of a circuit nobody has written yet: closed, all counters at zero. */
export function createInitialState(now: number): CircuitStateData {
  return {
    schemaVersion: STATE_SCHEMA_VERSION,
    state: 'closed',
    failureCount: 0,
    successCount: 0,
    lastFailureTime: 0,
    lastSuccessTime: 0,
    lastStateChange: now,
    version: 0,
    consecutiveOpens: 0,
    openUntil: 0,
    halfOpenRound: 0,
    override: null,
    probes: [],
    window: EMPTY_WINDOW,
  };
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

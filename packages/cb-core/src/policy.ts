import { assertInteger, assertNumber, assertObject, assertOneOf } from '@xnai/kit';

/** A sliding window over the last `size` calls. */
export interface CountWindowOptions {
  /** A window over a number of calls. */
  readonly type: 'count';
  /** Number of most recent calls the rates are computed over. */
  readonly size: number;
}

/** A sliding window over the last `durationMs`, kept as `bucketCount` buckets. */
export interface TimeWindowOptions {
  /** A window over a duration. */
  readonly type: 'time';
  /** How far back the window reaches, in milliseconds. */
  readonly durationMs: number;
  /**
   * Buckets the window is kept in; `durationMs` must divide evenly by it.
   * @default 10
   */
  readonly bucketCount?: number;
}

/** The sliding window of {@link CircuitPolicyOptions.slidingWindow}: over the last calls, or over the last milliseconds. */
export type SlidingWindowOptions = CountWindowOptions | TimeWindowOptions;

/**
 * When a circuit trips, how it probes and how long it stays open. Every field is optional; the
 * defaults are the seed design's (`failure_threshold=5`, `success_threshold=2`, `timeout=60`,
 * `max_timeout=300`).
 */
export interface CircuitPolicyOptions {
  /**
   * Consecutive failures that open a closed circuit. On a shared store they are consecutive across
   * the fleet: a success on any instance resets the count (the store pushes the count leaving zero,
   * so a success elsewhere is written; one in the moment before that push arrives is not).
   * @default 5
   */
  readonly failureThreshold?: number;
  /**
   * Probe successes in half-open that close the circuit. One probe failure opens it again.
   * @default 2
   */
  readonly successThreshold?: number;
  /**
   * Probes admitted at once in half-open, across every instance sharing the store.
   * @default 1
   */
  readonly halfOpenMaxCalls?: number;
  /**
   * How long a circuit stays open the first time (the seed's `timeout`, 60 s).
   * @default 60_000
   */
  readonly openTimeoutMs?: number;
  /**
   * Cap of the open period as it grows with consecutive opens (the seed's `max_timeout`, 300 s).
   * @default 300_000
   */
  readonly maxOpenTimeoutMs?: number;
  /**
   * Factor by which the open period grows with each consecutive open: the n-th open lasts
   * `openTimeoutMs * backoffMultiplier^(n-1)`, capped at `maxOpenTimeoutMs`. `1` disables growth.
   * @default 2
   */
  readonly backoffMultiplier?: number;
  /**
   * Share of the open period that is randomly taken off it, so instances do not probe in step.
   * `0.2` makes the period between 80% and 100% of its backoff value.
   * @default 0
   */
  readonly jitterRatio?: number;
  /**
   * A sliding window for rate-based tripping. `null` trips on consecutive failures only.
   * With a window, the circuit opens on consecutive failures *or* when a rate crosses its threshold.
   * @default null
   */
  readonly slidingWindow?: SlidingWindowOptions | null;
  /**
   * Failure share of the window, in (0, 1], at or above which the circuit opens.
   * @default 0.5
   */
  readonly failureRateThreshold?: number;
  /**
   * Calls the window must hold before its rates are judged.
   * @default 10
   */
  readonly minimumCalls?: number;
  /**
   * Calls that take at least this long count as slow. `null` disables the slow-call rate.
   * @default null
   */
  readonly slowCallDurationMs?: number | null;
  /**
   * Slow share of the window, in (0, 1], at or above which the circuit opens.
   * @default 1
   */
  readonly slowCallRateThreshold?: number;
  /**
   * How long a half-open probe permit is held before it lapses if its call never reports.
   * Must be at least the breaker's `callTimeoutMs`.
   * @default 30_000 (or `callTimeoutMs` when that is larger)
   */
  readonly probeLeaseMs?: number;
}

/** A validated policy with every default filled in. Stores receive this shape. */
export interface CircuitPolicy {
  /** As {@link CircuitPolicyOptions.failureThreshold}. */
  readonly failureThreshold: number;
  /** As {@link CircuitPolicyOptions.successThreshold}. */
  readonly successThreshold: number;
  /** As {@link CircuitPolicyOptions.halfOpenMaxCalls}. */
  readonly halfOpenMaxCalls: number;
  /** As {@link CircuitPolicyOptions.openTimeoutMs}. */
  readonly openTimeoutMs: number;
  /** As {@link CircuitPolicyOptions.maxOpenTimeoutMs}. */
  readonly maxOpenTimeoutMs: number;
  /** As {@link CircuitPolicyOptions.backoffMultiplier}. */
  readonly backoffMultiplier: number;
  /** As {@link CircuitPolicyOptions.jitterRatio}. */
  readonly jitterRatio: number;
  /** As {@link CircuitPolicyOptions.slidingWindow}, resolved (`bucketCount` filled in). */
  readonly slidingWindow: { readonly type: 'count'; readonly size: number } | ResolvedTimeWindow | null;
  /** As {@link CircuitPolicyOptions.failureRateThreshold}. */
  readonly failureRateThreshold: number;
  /** As {@link CircuitPolicyOptions.minimumCalls}. */
  readonly minimumCalls: number;
  /** As {@link CircuitPolicyOptions.slowCallDurationMs}. */
  readonly slowCallDurationMs: number | null;
  /** As {@link CircuitPolicyOptions.slowCallRateThreshold}. */
  readonly slowCallRateThreshold: number;
  /** As {@link CircuitPolicyOptions.probeLeaseMs}, at least the breaker's `callTimeoutMs`. */
  readonly probeLeaseMs: number;
}

/** A time window as a resolved policy holds it: `bucketCount` filled in. */
export interface ResolvedTimeWindow {
  /** A window over a duration. */
  readonly type: 'time';
  /** How far back the window reaches, in milliseconds. */
  readonly durationMs: number;
  /** Buckets the window is kept in. */
  readonly bucketCount: number;
}

/** The defaults of {@link CircuitPolicyOptions}, frozen. */
export const DEFAULT_POLICY: CircuitPolicy = Object.freeze({
  failureThreshold: 5,
  successThreshold: 2,
  halfOpenMaxCalls: 1,
  openTimeoutMs: 60_000,
  maxOpenTimeoutMs: 300_000,
  backoffMultiplier: 2,
  jitterRatio: 0,
  slidingWindow: null,
  failureRateThreshold: 0.5,
  minimumCalls: 10,
  slowCallDurationMs: null,
  slowCallRateThreshold: 1,
  probeLeaseMs: 30_000,
});

/** Names of {@link CircuitPolicyOptions}, for rejecting unknown options. */
export const POLICY_OPTION_NAMES: readonly string[] = Object.freeze(Object.keys(DEFAULT_POLICY));

/** The longest duration any policy option may have: 365 days. */
export const MAX_DURATION_MS = 365 * 24 * 3_600_000;

/**
 * How far stored times may reach when a store reads without a policy at hand (`getState`): the
 * longest any policy allows. Breakers then bound what they act on by their own policy.
 */
export const READ_LIMITS: Pick<CircuitPolicy, 'maxOpenTimeoutMs' | 'probeLeaseMs'> = Object.freeze({
  maxOpenTimeoutMs: MAX_DURATION_MS,
  probeLeaseMs: MAX_DURATION_MS,
});
const MAX_COUNT = 1_000_000;
const MAX_COUNT_WINDOW = 10_000;

function resolveWindow(value: unknown): CircuitPolicy['slidingWindow'] {
  if (value === null || value === undefined) return null;
  const window = assertObject('slidingWindow', value);
  const type = assertOneOf('slidingWindow.type', window.type, ['count', 'time'] as const);
  if (type === 'count') {
    return Object.freeze({
      type,
      size: assertInteger('slidingWindow.size', window.size, 1, MAX_COUNT_WINDOW),
    });
  }
  const durationMs = assertInteger('slidingWindow.durationMs', window.durationMs, 1, MAX_DURATION_MS);
  const bucketCount = assertInteger('slidingWindow.bucketCount', window.bucketCount ?? 10, 1, 1_000);
  if (durationMs % bucketCount !== 0) {
    throw new RangeError(
      `slidingWindow.durationMs must divide evenly by slidingWindow.bucketCount, got ${durationMs} and ${bucketCount}`,
    );
  }
  return Object.freeze({ type, durationMs, bucketCount });
}

/**
 * Validates policy options and fills in defaults.
 * @throws {TypeError} an option has the wrong type.
 * @throws {RangeError} an option is out of range, or two options contradict each other.
 */
export function resolvePolicy(options: CircuitPolicyOptions = {}, minimumProbeLeaseMs = 0): CircuitPolicy {
  const pick = <K extends keyof CircuitPolicy>(key: K): unknown =>
    (options as Record<string, unknown>)[key] === undefined
      ? DEFAULT_POLICY[key]
      : (options as Record<string, unknown>)[key];

  const openTimeoutMs = assertInteger('openTimeoutMs', pick('openTimeoutMs'), 1, MAX_DURATION_MS);
  const maxOpenTimeoutMs = assertInteger('maxOpenTimeoutMs', pick('maxOpenTimeoutMs'), 1, MAX_DURATION_MS);
  if (maxOpenTimeoutMs < openTimeoutMs) {
    throw new RangeError(
      `maxOpenTimeoutMs must be at least openTimeoutMs, got ${maxOpenTimeoutMs} and ${openTimeoutMs}`,
    );
  }
  const slidingWindow = resolveWindow(pick('slidingWindow'));
  const minimumCalls = assertInteger('minimumCalls', pick('minimumCalls'), 1, MAX_COUNT);
  if (slidingWindow?.type === 'count' && minimumCalls > slidingWindow.size) {
    throw new RangeError(
      `minimumCalls must be at most slidingWindow.size, got ${minimumCalls} and ${slidingWindow.size}`,
    );
  }
  const slowCallDurationRaw = pick('slowCallDurationMs');
  const slowCallDurationMs =
    slowCallDurationRaw === null
      ? null
      : assertInteger('slowCallDurationMs', slowCallDurationRaw, 1, MAX_DURATION_MS);
  if (slowCallDurationMs !== null && slidingWindow === null) {
    throw new RangeError(
      'slowCallDurationMs needs a slidingWindow to measure the slow-call rate over, got null',
    );
  }
  const explicitLease = (options as Record<string, unknown>).probeLeaseMs;
  const probeLeaseMs =
    explicitLease === undefined
      ? Math.max(DEFAULT_POLICY.probeLeaseMs, minimumProbeLeaseMs)
      : assertInteger('probeLeaseMs', explicitLease, 1, MAX_DURATION_MS);
  if (probeLeaseMs < minimumProbeLeaseMs) {
    throw new RangeError(
      `probeLeaseMs must be at least callTimeoutMs, got ${probeLeaseMs} and ${minimumProbeLeaseMs}`,
    );
  }

  return intern({
    failureThreshold: assertInteger('failureThreshold', pick('failureThreshold'), 1, MAX_COUNT),
    successThreshold: assertInteger('successThreshold', pick('successThreshold'), 1, MAX_COUNT),
    halfOpenMaxCalls: assertInteger('halfOpenMaxCalls', pick('halfOpenMaxCalls'), 1, 1_000),
    openTimeoutMs,
    maxOpenTimeoutMs,
    backoffMultiplier: assertNumber('backoffMultiplier', pick('backoffMultiplier'), 1, 1_000),
    jitterRatio: assertNumber('jitterRatio', pick('jitterRatio'), 0, 1),
    slidingWindow,
    failureRateThreshold: assertNumber('failureRateThreshold', pick('failureRateThreshold'), 0, 1, true),
    minimumCalls,
    slowCallDurationMs,
    slowCallRateThreshold: assertNumber('slowCallRateThreshold', pick('slowCallRateThreshold'), 0, 1, true),
    probeLeaseMs,
  });
}

const interned = new Map<string, CircuitPolicy>();
const MAX_INTERNED = 1_000;

/**
 * Returns one shared frozen object per distinct policy, so that thousands of breakers configured alike
 * hold one policy between them. Policies are plain data, so their JSON is their identity.
 */
function intern(policy: CircuitPolicy): CircuitPolicy {
  const key = JSON.stringify(policy);
  const existing = interned.get(key);
  if (existing !== undefined) return existing;
  const frozen = Object.freeze(policy);
  if (interned.size < MAX_INTERNED) interned.set(key, frozen);
  return frozen;
}

/**
 * The open period of the `opens`-th consecutive open, before jitter: `openTimeoutMs` multiplied by
 * `backoffMultiplier` once per earlier open, capped at `maxOpenTimeoutMs`. Computed by repeated
 * multiplication (not `Math.pow`) so that the Lua implementation yields the same double.
 */
export function backoffDuration(policy: CircuitPolicy, opens: number): number {
  let duration = policy.openTimeoutMs;
  for (let i = 1; i < opens && duration < policy.maxOpenTimeoutMs; i++) {
    duration *= policy.backoffMultiplier;
  }
  return Math.min(duration, policy.maxOpenTimeoutMs);
}

/** Jitter arrives as an integer in [0, JITTER_SCALE) so both implementations use identical inputs. */
export const JITTER_SCALE = 1_000_000;

/** The open period of the `opens`-th consecutive open after taking `jitter / JITTER_SCALE * jitterRatio` off. */
export function openDuration(policy: CircuitPolicy, opens: number, jitter: number): number {
  const base = backoffDuration(policy, opens);
  return Math.max(1, Math.floor(base - (base * policy.jitterRatio * jitter) / JITTER_SCALE));
}

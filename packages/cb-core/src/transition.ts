import { assertNever } from './assert-never.js';
import {
  boundedOpenUntil,
  type CircuitOverride,
  type CircuitStateData,
  type CircuitStatus,
  type CircuitTombstone,
  type CircuitWindow,
  createInitialState,
  isTombstone,
  type ProbeLease,
  type StoredCircuit,
  type TimeBucket,
} from './circuit-state.js';
import { type OutcomeBatch, type RecordedOutcomes, reduceOutcomes } from './outcome-batch.js';
import { type CircuitPolicy, openDuration } from './policy.js';
import type {
  Admission,
  CircuitTransition,
  OverrideRequest,
  ProbeTicket,
  RejectionReason,
  TransitionReason,
} from './store.js';

/**
 * Versions advance with time as well as with writes: `max(previous + 1, now * VERSIONS_PER_MS)`.
 * A circuit whose key was lost (Redis restarted empty, evicted, flushed) therefore comes back with a
 * version above everything instances saw before, so their views accept it instead of ignoring it as
 * stale. Up to 1,000 writes per millisecond stay ordered by `+ 1`; epoch-ms times 1,000 stays below
 * 2^53 until the year 2255.
 */
export const VERSIONS_PER_MS = 1_000;

/** The version of the next write after `previous` at `now`. */
export function nextVersion(previous: number, now: number): number {
  return Math.max(previous + 1, Math.floor(now) * VERSIONS_PER_MS);
}

/** What a store is asked to do to one circuit. */
export type CircuitEvent =
  | {
      readonly type: 'acquire';
      readonly leaseId: string;
      /** Integer in [0, JITTER_SCALE). */
      readonly jitter: number;
    }
  | {
      readonly type: 'record';
      /** Outcomes as they happened, or already reduced; either way applied as one batch. */
      readonly outcomes: RecordedOutcomes;
      readonly jitter: number;
    }
  | { readonly type: 'override'; readonly override: OverrideRequest | null }
  | { readonly type: 'reset' }
  /** The seed's `set_state`: `data` replaces the circuit, with a version above the stored one. */
  | { readonly type: 'set'; readonly data: CircuitStateData };

/** How a store applies events. */
export interface TransitionOptions {
  /**
   * `true` (the default) for the store of record: its status changes are decisions the fleet keeps
   * (`decidedAt`). `false` for a copy kept while cut off from it (the registry's warm mirror), whose
   * status changes follow from older history and must not outrank decisions made meanwhile.
   * Operator events (`reset`, `override`, `set`) are decisions either way.
   * @default true
   */
  readonly authoritative?: boolean;
}

/** What {@link transition} makes of one event: the next state, and what a store must write and announce. */
export interface TransitionResult {
  /**
   * The state after the event. When `changed` is false, the previous state with its stored times
   * bounded at `now` (see {@link boundStoredTimes}); a store returns it but writes nothing.
   */
  readonly state: CircuitStateData;
  /** The event wrote something: the store must persist `state` (whose version was bumped). */
  readonly changed: boolean;
  /** The status change to announce, or `null`. */
  readonly transition: CircuitTransition | null;
  /**
   * The change must reach other instances even without a status change: a `set`, or a consecutive
   * failure count leaving or returning to zero (so that the next success anywhere in the fleet resets
   * it; see `failureThreshold`), or the number of probe leases changing (so that other instances can
   * decide half-open admission without asking). Stores push a change exactly when
   * `transition !== null || notify`.
   */
  readonly notify: boolean;
  /** For `acquire` only: whether the call may run. */
  readonly admission: Admission | null;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const ALLOWED: Admission = Object.freeze({ allowed: true, probe: null });

/** The window a policy starts from. */
export function emptyWindow(policy: CircuitPolicy): CircuitWindow {
  const window = policy.slidingWindow;
  if (window === null) return { kind: 'none' };
  return window.type === 'count' ? { kind: 'count', outcomes: '' } : { kind: 'time', buckets: [] };
}

function storedStatus(data: CircuitStateData): CircuitStatus {
  return data.override?.mode ?? data.state;
}

function reject(reason: RejectionReason, retryAt: number | null): Admission {
  return { allowed: false, reason, retryAt };
}

/** Buckets still inside the window at `now`, oldest first. */
function liveBuckets(buckets: readonly TimeBucket[], durationMs: number, now: number): TimeBucket[] {
  return buckets.filter((bucket) => bucket.start + durationMs > now);
}

/**
 * Bounds the times of stored data at `now`, as every store does before it applies an event (and so
 * identically in Lua): no time after `now` (a skewed writer, or a clock that stepped back after a
 * failover or an NTP step), no open period beyond {@link boundedOpenUntil}, no probe lease beyond
 * `probeLeaseMs`. Returns `data` itself when nothing needed bounding.
 */
export function boundStoredTimes(
  data: CircuitStateData,
  policy: Pick<CircuitPolicy, 'maxOpenTimeoutMs' | 'probeLeaseMs'>,
  now: number,
): CircuitStateData {
  const override = data.override;
  const openUntil =
    data.state === 'open' ? boundedOpenUntil(data, policy.maxOpenTimeoutMs, now) : data.openUntil;
  const leaseLimit = now + policy.probeLeaseMs;
  if (
    data.lastFailureTime <= now &&
    data.lastSuccessTime <= now &&
    data.lastStateChange <= now &&
    (override === null || override.setAt <= now) &&
    openUntil === data.openUntil &&
    data.probes.every((lease) => lease.expiresAt <= leaseLimit)
  ) {
    return data;
  }
  return {
    ...data,
    lastFailureTime: Math.min(data.lastFailureTime, now),
    lastSuccessTime: Math.min(data.lastSuccessTime, now),
    lastStateChange: Math.min(data.lastStateChange, now),
    override: override === null || override.setAt <= now ? override : { ...override, setAt: now },
    openUntil,
    probes: data.probes.map((lease) =>
      lease.expiresAt <= leaseLimit ? lease : { ...lease, expiresAt: leaseLimit },
    ),
  };
}

/**
 * The time of a decision made at `now` on top of `previous`: `now`, but always after the decision it
 * follows, so that decisions on one circuit stay ordered even when the clock steps back (a failover
 * to a host whose clock is behind, an NTP step) and a copy derived from older history never
 * outranks a newer decision.
 */
export function decisionTime(previous: Pick<CircuitStateData, 'decidedAt'> | undefined, now: number): number {
  return Math.max(now, (previous?.decidedAt ?? -1) + 1);
}

/** What a deletion leaves of `previous` at `now`: a tombstone above its version, decided now. */
export function tombstoneOf(previous: StoredCircuit | undefined, now: number): CircuitTombstone {
  return {
    deleted: true,
    version: nextVersion(previous?.version ?? 0, now),
    decidedAt: decisionTime(previous, now),
  };
}

/**
 * The one definition of the breaker's behaviour: applies `event` to `previous` (or to a fresh closed
 * circuit when `undefined` or deleted) at time `now`. Pure and deterministic; `cb-store-redis`
 * implements the same function in Lua and a property-based suite holds the two to identical results.
 */
export function transition(
  previous: StoredCircuit | undefined,
  event: CircuitEvent,
  policy: CircuitPolicy,
  now: number,
  options: TransitionOptions = {},
): TransitionResult {
  const base =
    previous === undefined || isTombstone(previous)
      ? createInitialState(now, previous)
      : boundStoredTimes(previous, policy, now);
  const next: Mutable<CircuitStateData> = { ...base };
  let probes: ProbeLease[] = base.probes as ProbeLease[];
  let dirty = false;
  let reason: TransitionReason | null = null;
  let admission: Admission | null = null;

  if (next.override !== null && next.override.expiresAt !== null && now >= next.override.expiresAt) {
    next.override = null;
    dirty = true;
    reason = 'override_expired';
  }
  if (probes.some((lease) => lease.expiresAt <= now)) {
    probes = probes.filter((lease) => lease.expiresAt > now);
    dirty = true;
  }

  const open = (why: TransitionReason, jitter: number): void => {
    next.state = 'open';
    next.consecutiveOpens += 1;
    next.openUntil = now + openDuration(policy, next.consecutiveOpens, jitter);
    next.successCount = 0;
    next.lastStateChange = now;
    next.window = emptyWindow(policy);
    probes = [];
    dirty = true;
    reason = why;
  };
  const close = (why: TransitionReason): void => {
    next.state = 'closed';
    next.failureCount = 0;
    next.consecutiveOpens = 0;
    next.openUntil = 0;
    next.lastStateChange = now;
    next.window = emptyWindow(policy);
    probes = [];
    dirty = true;
    reason = why;
  };

  switch (event.type) {
    case 'acquire': {
      const override: CircuitOverride | null = next.override;
      if (override !== null) {
        admission = override.mode === 'forced_open' ? reject('forced_open', override.expiresAt) : ALLOWED;
        break;
      }
      if (next.state === 'closed') {
        admission = ALLOWED;
        break;
      }
      if (next.state === 'open') {
        if (now < next.openUntil) {
          admission = reject('open', next.openUntil);
          break;
        }
        next.state = 'half_open';
        next.halfOpenRound += 1;
        next.successCount = 0;
        next.openUntil = 0;
        next.lastStateChange = now;
        probes = [];
        dirty = true;
        reason = 'open_timeout_elapsed';
      }
      const held = probes.find((lease) => lease.id === event.leaseId);
      if (held !== undefined) {
        // A retried acquire (its first attempt timed out but was applied) gets the same lease back.
        admission = { allowed: true, probe: { id: held.id, round: held.round } };
      } else if (probes.length < policy.halfOpenMaxCalls) {
        const lease: ProbeLease = {
          id: event.leaseId,
          round: next.halfOpenRound,
          expiresAt: now + policy.probeLeaseMs,
        };
        probes = [...probes, lease];
        dirty = true;
        admission = { allowed: true, probe: { id: lease.id, round: lease.round } };
      } else {
        admission = reject('half_open_full', Math.min(...probes.map((lease) => lease.expiresAt)));
      }
      break;
    }
    case 'record': {
      const { batch, probes: probeOutcomes } = reduceOutcomes(event.outcomes, policy);
      // Outcomes without a probe ticket were admitted while closed. They are judged, as one step,
      // against the state the record finds: once the circuit has left closed (or an override is in
      // force) they are late and count for nothing.
      if (batch.calls > 0 && next.override === null && next.state === 'closed') {
        const tripped = applyBatch(next, batch, policy, now);
        dirty = true;
        if (next.failureCount >= policy.failureThreshold) open('failure_threshold', event.jitter);
        else if (tripped !== null) open(tripped, event.jitter);
      }
      for (const outcome of probeOutcomes) {
        const ticket = outcome.probe as ProbeTicket;
        const index = probes.findIndex((lease) => lease.id === ticket.id);
        // A lease that lapsed or belongs to an ended round: the late outcome counts for nothing.
        if (index < 0) continue;
        const lease = probes[index] as ProbeLease;
        probes = probes.filter((_, i) => i !== index);
        dirty = true;
        if (next.override !== null || next.state !== 'half_open' || lease.round !== next.halfOpenRound)
          continue;
        if (outcome.kind === 'success') {
          next.successCount += 1;
          next.failureCount = 0;
          next.lastSuccessTime = now;
          if (next.successCount >= policy.successThreshold) close('probe_success_threshold');
        } else if (outcome.kind === 'failure') {
          next.failureCount += 1;
          next.lastFailureTime = now;
          open('probe_failure', event.jitter);
        }
      }
      break;
    }
    case 'override': {
      const request = event.override;
      if (request === null) {
        if (next.override !== null) {
          next.override = null;
          next.decidedAt = decisionTime(base, now);
          dirty = true;
          reason = 'override_cleared';
        }
        break;
      }
      next.override = {
        mode: request.mode,
        reason: request.reason ?? null,
        // A duration is resolved here, on the store's clock (Redis time for a Redis store).
        expiresAt: request.durationMs != null ? now + request.durationMs : (request.expiresAt ?? null),
        setAt: now,
      };
      next.decidedAt = decisionTime(base, now);
      probes = [];
      dirty = true;
      reason = request.mode;
      break;
    }
    case 'reset': {
      Object.assign(next, {
        state: 'closed',
        failureCount: 0,
        successCount: 0,
        consecutiveOpens: 0,
        openUntil: 0,
        lastStateChange: now,
        override: null,
        window: emptyWindow(policy),
        decidedAt: decisionTime(base, now),
      });
      probes = [];
      dirty = true;
      reason = 'reset';
      break;
    }
    case 'set': {
      Object.assign(next, event.data, { decidedAt: decisionTime(base, now) });
      probes = event.data.probes as ProbeLease[];
      dirty = true;
      reason = 'set';
      break;
    }
    default:
      assertNever(event);
  }

  if (!dirty) return { state: base, changed: false, transition: null, notify: false, admission };
  next.probes = probes;
  next.version = nextVersion(Math.max(base.version, event.type === 'set' ? event.data.version : 0), now);
  const from = storedStatus(base);
  const to = storedStatus(next);
  const statusChanged = from !== to;
  // A status change made by the store of record is a decision the fleet keeps.
  if (statusChanged && options.authoritative !== false) next.decidedAt = decisionTime(base, now);
  return {
    state: next,
    changed: true,
    transition: statusChanged ? { from, to, reason: reason ?? 'set', at: now } : null,
    notify:
      statusChanged ||
      // A decision (set, override, reset), also one that leaves the status as it was: a renewed
      // override's expiry, a reset of a circuit that counted nothing. Others hold the old one.
      next.decidedAt !== base.decidedAt ||
      (base.failureCount === 0) !== (next.failureCount === 0) ||
      // A probe lease taken, given back or lapsed: other instances decide half-open admission from it.
      base.probes.length !== probes.length,
    admission,
  };
}

/**
 * Applies a batch of closed-state outcomes as one step: counters as if its outcomes came one after
 * another, every outcome into the window at once (a time window: the bucket of `now`). Returns the
 * rate the resulting window trips on, if any. Time is O(window + batch), whatever the call count.
 */
function applyBatch(
  next: Mutable<CircuitStateData>,
  batch: OutcomeBatch,
  policy: CircuitPolicy,
  now: number,
): 'failure_rate' | 'slow_call_rate' | null {
  const successes = batch.calls - batch.failures;
  next.failureCount = successes > 0 ? batch.trailingFailures : next.failureCount + batch.failures;
  next.successCount = batch.failures > 0 ? batch.trailingSuccesses : next.successCount + successes;
  if (batch.failures > 0) next.lastFailureTime = now;
  if (successes > 0) next.lastSuccessTime = now;
  const window = policy.slidingWindow;
  if (window === null) {
    next.window = { kind: 'none' };
    return null;
  }
  let calls: number;
  let failures: number;
  let slowCalls: number;
  if (window.type === 'count') {
    const previous = next.window.kind === 'count' ? next.window.outcomes : '';
    const outcomes = (previous + batch.recent).slice(-window.size);
    next.window = { kind: 'count', outcomes };
    calls = outcomes.length;
    failures = 0;
    slowCalls = 0;
    for (let i = 0; i < outcomes.length; i++) {
      const c = outcomes.charCodeAt(i);
      // 'f' = 102, 'F' = 70, 'S' = 83
      if (c === 102 || c === 70) failures++;
      if (c === 70 || c === 83) slowCalls++;
    }
  } else {
    const bucketMs = window.durationMs / window.bucketCount;
    const start = Math.floor(now / bucketMs) * bucketMs;
    const buckets = liveBuckets(
      next.window.kind === 'time' ? next.window.buckets : [],
      window.durationMs,
      now,
    );
    const last = buckets[buckets.length - 1];
    if (last !== undefined && last.start === start) {
      buckets[buckets.length - 1] = {
        start,
        calls: last.calls + batch.calls,
        failures: last.failures + batch.failures,
        slow: last.slow + batch.slowCalls,
      };
    } else {
      buckets.push({ start, calls: batch.calls, failures: batch.failures, slow: batch.slowCalls });
    }
    next.window = { kind: 'time', buckets };
    calls = 0;
    failures = 0;
    slowCalls = 0;
    for (const bucket of buckets) {
      calls += bucket.calls;
      failures += bucket.failures;
      slowCalls += bucket.slow;
    }
  }
  if (calls < policy.minimumCalls) return null;
  if (failures / calls >= policy.failureRateThreshold) return 'failure_rate';
  if (policy.slowCallDurationMs !== null && slowCalls / calls >= policy.slowCallRateThreshold) {
    return 'slow_call_rate';
  }
  return null;
}

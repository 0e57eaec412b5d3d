import type { CircuitStateData, TimeBucket } from './circuit-state.js';
import type { CircuitPolicy } from './policy.js';
import type { CallOutcome } from './store.js';

/**
 * Closed-state outcomes reduced to what the transition needs from them. Its size is bounded by the
 * policy's window, not by the number of calls: a flush interval of a million calls travels and is
 * applied as one batch of a few numbers plus, for a count window, at most `size` outcome codes.
 *
 * A batch is applied as **one step**: its outcomes join the window and the counters together, and
 * the trip conditions are judged once, on the state that results (see {@link transition}).
 */
export interface OutcomeBatch {
  /** Counted calls: successes plus failures (ignored outcomes are not part of a batch). */
  readonly calls: number;
  /** Of those, failures. */
  readonly failures: number;
  /** Calls that took at least the policy's `slowCallDurationMs`. */
  readonly slowCalls: number;
  /** Failures after the batch's last success; all of its failures when it holds no success. */
  readonly trailingFailures: number;
  /** Successes after the batch's last failure; all of its successes when it holds no failure. */
  readonly trailingSuccesses: number;
  /**
   * For a count window: the codes of the batch's last `min(calls, size)` outcomes, oldest first
   * (`s` success, `S` slow success, `f` failure, `F` slow failure). `''` for other policies.
   */
  readonly recent: string;
}

/** What one `record` carries: outcomes as they happened, or a batch already reduced from them. */
export type RecordedOutcomes = readonly CallOutcome[] | OutcomeBatch;

/** A batch holding nothing. */
export const EMPTY_BATCH: OutcomeBatch = Object.freeze({
  calls: 0,
  failures: 0,
  slowCalls: 0,
  trailingFailures: 0,
  trailingSuccesses: 0,
  recent: '',
});

/** Whether `outcomes` is a reduced {@link OutcomeBatch} rather than a list of outcomes. */
export function isOutcomeBatch(outcomes: RecordedOutcomes): outcomes is OutcomeBatch {
  return !Array.isArray(outcomes);
}

/** How many outcome codes a batch keeps for `policy`: the count window's size, else none. */
export function recentLimit(policy: CircuitPolicy): number {
  const window = policy.slidingWindow;
  return window !== null && window.type === 'count' ? window.size : 0;
}

const CODE_SUCCESS = 115; // 's'
const CODE_SLOW_SUCCESS = 83; // 'S'
const CODE_FAILURE = 102; // 'f'
const CODE_SLOW_FAILURE = 70; // 'F'

function outcomeCode(failed: boolean, slow: boolean): number {
  if (failed) return slow ? CODE_SLOW_FAILURE : CODE_FAILURE;
  return slow ? CODE_SLOW_SUCCESS : CODE_SUCCESS;
}

function isFailureCode(code: number): boolean {
  return code === CODE_FAILURE || code === CODE_SLOW_FAILURE;
}

function isSlowCode(code: number): boolean {
  return code === CODE_SLOW_FAILURE || code === CODE_SLOW_SUCCESS;
}

/**
 * Accumulates closed-state outcomes into an {@link OutcomeBatch} in constant time and memory per
 * outcome (a ring of at most the count window's size).
 */
export class OutcomeBatchBuilder {
  #calls = 0;
  #failures = 0;
  #slowCalls = 0;
  #trailingFailures = 0;
  #trailingSuccesses = 0;
  readonly #limit: number;
  /** The last `#limit` codes, as a ring indexed by call number. */
  readonly #ring: Uint8Array | null;

  constructor(policy: CircuitPolicy) {
    this.#limit = recentLimit(policy);
    this.#ring = this.#limit > 0 ? new Uint8Array(this.#limit) : null;
  }

  get calls(): number {
    return this.#calls;
  }

  get failures(): number {
    return this.#failures;
  }

  get slowCalls(): number {
    return this.#slowCalls;
  }

  /** Consecutive failures the batch ends with, counting on from `before` when it holds no success. */
  consecutiveFailures(before: number): number {
    return this.#calls > this.#failures ? this.#trailingFailures : before + this.#failures;
  }

  add(failed: boolean, slow: boolean): void {
    if (this.#ring !== null) this.#ring[this.#calls % this.#limit] = outcomeCode(failed, slow);
    this.#calls += 1;
    if (slow) this.#slowCalls += 1;
    if (failed) {
      this.#failures += 1;
      this.#trailingFailures += 1;
      this.#trailingSuccesses = 0;
    } else {
      this.#trailingSuccesses += 1;
      this.#trailingFailures = 0;
    }
  }

  /** The codes of the last `min(calls, size)` outcomes, oldest first. */
  recent(): string {
    const ring = this.#ring;
    if (ring === null) return '';
    const kept = Math.min(this.#calls, this.#limit);
    let text = '';
    for (let i = this.#calls - kept; i < this.#calls; i++)
      text += String.fromCharCode(ring[i % this.#limit] ?? 0);
    return text;
  }

  build(): OutcomeBatch {
    if (this.#calls === 0) return EMPTY_BATCH;
    return {
      calls: this.#calls,
      failures: this.#failures,
      slowCalls: this.#slowCalls,
      trailingFailures: this.#trailingFailures,
      trailingSuccesses: this.#trailingSuccesses,
      recent: this.recent(),
    };
  }
}

/** A list of outcomes split into its reduced closed-state batch and its probe outcomes (in order). */
export interface ReducedOutcomes {
  /** The outcomes admitted while closed, reduced to one batch. */
  readonly batch: OutcomeBatch;
  /** The half-open probes' outcomes, in order. */
  readonly probes: readonly CallOutcome[];
}

const NO_PROBES: readonly CallOutcome[] = Object.freeze([]);

/**
 * Reduces what a `record` carries: outcomes without a probe ticket (admitted while closed) into one
 * batch, `ignored` ones dropped; probe outcomes kept as they are, in order.
 */
export function reduceOutcomes(outcomes: RecordedOutcomes, policy: CircuitPolicy): ReducedOutcomes {
  if (isOutcomeBatch(outcomes)) return { batch: outcomes, probes: NO_PROBES };
  let builder: OutcomeBatchBuilder | null = null;
  let probes: CallOutcome[] | null = null;
  for (const outcome of outcomes) {
    if (outcome.probe != null) {
      if (probes === null) probes = [];
      probes.push(outcome);
      continue;
    }
    if (outcome.kind === 'ignored') continue;
    if (builder === null) builder = new OutcomeBatchBuilder(policy);
    builder.add(outcome.kind === 'failure', outcome.slow === true);
  }
  return { batch: builder === null ? EMPTY_BATCH : builder.build(), probes: probes ?? NO_PROBES };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Describes what is wrong with `batch` for `policy`, or returns `null` when it can be applied.
 * Stores check every batch before they write anything.
 */
export function findOutcomeBatchProblem(batch: unknown, policy: CircuitPolicy): string | null {
  if (typeof batch !== 'object' || batch === null) return 'outcomes must be an array or an outcome batch';
  const b = batch as Record<string, unknown>;
  for (const key of ['calls', 'failures', 'slowCalls', 'trailingFailures', 'trailingSuccesses'] as const) {
    if (!isCount(b[key])) return `batch.${key} must be a non-negative integer, got ${String(b[key])}`;
  }
  const calls = b.calls as number;
  const failures = b.failures as number;
  const successes = calls - failures;
  if (failures > calls) return `batch.failures must be at most batch.calls, got ${failures} and ${calls}`;
  if ((b.slowCalls as number) > calls)
    return `batch.slowCalls must be at most batch.calls, got ${String(b.slowCalls)}`;
  const trailingFailures = b.trailingFailures as number;
  const trailingSuccesses = b.trailingSuccesses as number;
  if (trailingFailures > failures || trailingSuccesses > successes) {
    return 'batch.trailingFailures and batch.trailingSuccesses must be at most the failures and successes';
  }
  if (calls > 0 && (trailingFailures === 0) === (trailingSuccesses === 0)) {
    return 'a batch ends with either a failure or a success: exactly one of trailingFailures and trailingSuccesses is positive';
  }
  const recent = b.recent;
  if (typeof recent !== 'string' || !/^[sSfF]*$/.test(recent))
    return 'batch.recent must be a string of s, S, f, F';
  const expected = Math.min(calls, recentLimit(policy));
  if (recent.length !== expected) {
    return `batch.recent must hold the last ${expected} outcome codes for this policy, got ${recent.length}`;
  }
  return null;
}

/**
 * Detects, outcome by outcome, whether the local view plus the outcomes batched so far trip the
 * circuit, in constant time per outcome. A breaker flushes its batch the moment this says so.
 */
export class TripDetector {
  readonly #policy: CircuitPolicy;
  readonly #size: number;
  #base: CircuitStateData | null = null;
  #baseFailures = 0;
  // count window: the combined window (the base's outcomes, then the batch's) as a ring
  #ring: Uint8Array | null = null;
  #ringStart = 0;
  #ringLength = 0;
  #windowFailures = 0;
  #windowSlow = 0;
  // time window: the base's live buckets summed, valid until `#baseValidUntil`
  #baseCalls = 0;
  #baseWindowFailures = 0;
  #baseSlow = 0;
  #baseValidUntil = 0;

  constructor(policy: CircuitPolicy) {
    this.#policy = policy;
    this.#size = recentLimit(policy);
  }

  /**
   * Adds the outcome the builder just took and tells whether `view` plus the batch now trips.
   * `view` is the breaker's current view; when it was replaced since the last call, the detector
   * starts again from it (counting the batch's outcomes on top).
   */
  add(
    view: CircuitStateData,
    batch: OutcomeBatchBuilder,
    failed: boolean,
    slow: boolean,
    now: number,
  ): boolean {
    const policy = this.#policy;
    if (view !== this.#base) this.#rebase(view, batch, now);
    else if (this.#size > 0) this.#push(outcomeCode(failed, slow));
    if (batch.consecutiveFailures(this.#baseFailures) >= policy.failureThreshold) return true;
    const window = policy.slidingWindow;
    if (window === null) return false;
    let calls: number;
    let failures: number;
    let slowCalls: number;
    if (window.type === 'count') {
      calls = this.#ringLength;
      failures = this.#windowFailures;
      slowCalls = this.#windowSlow;
    } else {
      if (now >= this.#baseValidUntil) this.#sumBase(now);
      calls = this.#baseCalls + batch.calls;
      failures = this.#baseWindowFailures + batch.failures;
      slowCalls = this.#baseSlow + batch.slowCalls;
    }
    if (calls < policy.minimumCalls) return false;
    if (failures / calls >= policy.failureRateThreshold) return true;
    return policy.slowCallDurationMs !== null && slowCalls / calls >= policy.slowCallRateThreshold;
  }

  #rebase(view: CircuitStateData, batch: OutcomeBatchBuilder, now: number): void {
    this.#base = view;
    this.#baseFailures = view.failureCount;
    if (this.#size > 0) {
      if (this.#ring === null) this.#ring = new Uint8Array(this.#size);
      this.#ringStart = 0;
      this.#ringLength = 0;
      this.#windowFailures = 0;
      this.#windowSlow = 0;
      const stored = view.window.kind === 'count' ? view.window.outcomes : '';
      for (let i = Math.max(0, stored.length - this.#size); i < stored.length; i++)
        this.#push(stored.charCodeAt(i));
      const recent = batch.recent();
      for (let i = 0; i < recent.length; i++) this.#push(recent.charCodeAt(i));
    } else {
      this.#baseValidUntil = 0;
      this.#sumBase(now);
    }
  }

  #push(code: number): void {
    const ring = this.#ring as Uint8Array;
    if (this.#ringLength === this.#size) {
      const evicted = ring[this.#ringStart] ?? 0;
      if (isFailureCode(evicted)) this.#windowFailures -= 1;
      if (isSlowCode(evicted)) this.#windowSlow -= 1;
      ring[this.#ringStart] = code;
      this.#ringStart = (this.#ringStart + 1) % this.#size;
    } else {
      ring[(this.#ringStart + this.#ringLength) % this.#size] = code;
      this.#ringLength += 1;
    }
    if (isFailureCode(code)) this.#windowFailures += 1;
    if (isSlowCode(code)) this.#windowSlow += 1;
  }

  #sumBase(now: number): void {
    const window = this.#policy.slidingWindow;
    const base = this.#base;
    this.#baseCalls = 0;
    this.#baseWindowFailures = 0;
    this.#baseSlow = 0;
    this.#baseValidUntil = Number.POSITIVE_INFINITY;
    if (window === null || window.type !== 'time' || base === null || base.window.kind !== 'time') return;
    for (const bucket of base.window.buckets as readonly TimeBucket[]) {
      const end = bucket.start + window.durationMs;
      if (end <= now) continue;
      this.#baseCalls += bucket.calls;
      this.#baseWindowFailures += bucket.failures;
      this.#baseSlow += bucket.slow;
      if (end < this.#baseValidUntil) this.#baseValidUntil = end;
    }
  }
}

const KINDS = new Set(['success', 'failure', 'ignored']);

/**
 * Checks what a `record` carries before a store writes anything: each listed outcome (kind, `slow`,
 * probe ticket), or a reduced batch against `policy`.
 * @throws {TypeError} naming the first problem found.
 */
export function assertRecordedOutcomes(outcomes: unknown, policy: CircuitPolicy): RecordedOutcomes {
  if (Array.isArray(outcomes)) {
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i] as Record<string, unknown> | null;
      if (typeof outcome !== 'object' || outcome === null || !KINDS.has(outcome.kind as string)) {
        throw new TypeError(`outcomes[${i}].kind must be "success", "failure" or "ignored"`);
      }
      if (outcome.slow !== undefined && typeof outcome.slow !== 'boolean') {
        throw new TypeError(`outcomes[${i}].slow must be a boolean, got ${typeof outcome.slow}`);
      }
      const probe = outcome.probe as Record<string, unknown> | null | undefined;
      if (
        probe != null &&
        (typeof probe !== 'object' || typeof probe.id !== 'string' || !isCount(probe.round))
      ) {
        throw new TypeError(`outcomes[${i}].probe must be { id, round } or null`);
      }
    }
    return outcomes as readonly CallOutcome[];
  }
  const problem = findOutcomeBatchProblem(outcomes, policy);
  if (problem !== null) throw new TypeError(problem);
  return outcomes as OutcomeBatch;
}

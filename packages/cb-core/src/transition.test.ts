import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CircuitStateData, createInitialState } from './circuit-state.js';
import { backoffDuration, type CircuitPolicy, JITTER_SCALE, openDuration, resolvePolicy } from './policy.js';
import { findStateDataProblem } from './state-data.js';
import type { CallOutcome, ProbeTicket } from './store.js';
import { type CircuitEvent, transition } from './transition.js';

const T0 = 1_700_000_000_000;
const FAIL: CallOutcome = { kind: 'failure' };
const OK: CallOutcome = { kind: 'success' };

function run(
  policy: CircuitPolicy,
  steps: Array<[number, CircuitEvent]>,
  start?: CircuitStateData,
): ReturnType<typeof transition>[] {
  let state = start;
  const results: ReturnType<typeof transition>[] = [];
  for (const [at, event] of steps) {
    const result = transition(state, event, policy, at);
    state = result.state;
    results.push(result);
  }
  return results;
}

const record = (...outcomes: CallOutcome[]): CircuitEvent => ({ type: 'record', outcomes, jitter: 0 });
const acquire = (leaseId: string, jitter = 0): CircuitEvent => ({ type: 'acquire', leaseId, jitter });

describe('transition: closed', () => {
  const policy = resolvePolicy({ failureThreshold: 3 });

  it('starts from a fresh closed circuit and does not write for an admission', () => {
    const result = transition(undefined, acquire('a'), policy, T0);
    expect(result).toMatchObject({
      changed: false,
      transition: null,
      admission: { allowed: true, probe: null },
    });
    expect(result.state).toEqual(createInitialState(T0));
  });

  it('opens on the third consecutive failure with the seed reason and timing', () => {
    const [, , third] = run(policy, [
      [T0, record(FAIL)],
      [T0 + 1, record(FAIL)],
      [T0 + 2, record(FAIL)],
    ]);
    expect(third?.transition).toEqual({
      from: 'closed',
      to: 'open',
      reason: 'failure_threshold',
      at: T0 + 2,
    });
    expect(third?.state).toMatchObject({
      state: 'open',
      failureCount: 3,
      consecutiveOpens: 1,
      openUntil: T0 + 2 + 60_000,
      lastFailureTime: T0 + 2,
      lastStateChange: T0 + 2,
      version: (T0 + 2) * 1_000,
    });
  });

  it('resets the failure count on success', () => {
    const results = run(policy, [
      [T0, record(FAIL, FAIL)],
      [T0 + 5, record(OK)],
      [T0 + 6, record(FAIL, FAIL)],
    ]);
    expect(results[1]?.state).toMatchObject({ failureCount: 0, successCount: 1, lastSuccessTime: T0 + 5 });
    expect(results[2]?.state).toMatchObject({ state: 'closed', failureCount: 2, successCount: 0 });
  });

  it('ignores ignored outcomes entirely', () => {
    const result = transition(undefined, record({ kind: 'ignored' }), policy, T0);
    expect(result.changed).toBe(false);
  });

  it('ignores late outcomes without a probe ticket once the circuit left closed', () => {
    const [, late] = run(resolvePolicy({ failureThreshold: 1 }), [
      [T0, record(FAIL)],
      [T0 + 1, record(OK, FAIL)],
    ]);
    expect(late?.changed).toBe(false);
  });
});

describe('transition: sliding windows', () => {
  it('trips on the slow-call rate of a count window', () => {
    const policy = resolvePolicy({
      failureThreshold: 100,
      slidingWindow: { type: 'count', size: 4 },
      minimumCalls: 4,
      slowCallDurationMs: 1_000,
      slowCallRateThreshold: 0.75,
    });
    const slow: CallOutcome = { kind: 'success', slow: true };
    const results = run(policy, [
      [T0, record(slow, OK, slow)],
      [T0 + 1, record(slow)],
    ]);
    expect(results[0]?.state.window).toEqual({ kind: 'count', outcomes: 'SsS' });
    expect(results[1]?.transition?.reason).toBe('slow_call_rate');
  });

  it('keeps only the last `size` outcomes of a count window', () => {
    const policy = resolvePolicy({
      failureThreshold: 100,
      slidingWindow: { type: 'count', size: 3 },
      minimumCalls: 3,
    });
    const [result] = run(policy, [[T0, record(FAIL, OK, OK, OK)]]);
    expect(result?.state.window).toEqual({ kind: 'count', outcomes: 'sss' });
    const slowFail = run(policy, [[T0, record({ kind: 'failure', slow: true })]])[0];
    expect(slowFail?.state.window).toEqual({ kind: 'count', outcomes: 'F' });
  });

  it('ages buckets out of a time window', () => {
    const policy = resolvePolicy({
      failureThreshold: 100,
      slidingWindow: { type: 'time', durationMs: 10_000, bucketCount: 10 },
      minimumCalls: 4,
      failureRateThreshold: 0.5,
    });
    const results = run(policy, [
      [T0, record(FAIL, FAIL, FAIL)],
      [T0 + 500, record(OK)],
      [T0 + 10_500, record(OK, FAIL)],
    ]);
    expect(results[0]?.state.window).toEqual({
      kind: 'time',
      buckets: [{ start: T0, calls: 3, failures: 3, slow: 0 }],
    });
    // The fourth call reaches minimumCalls at a 75% failure rate: open, and the window starts over.
    expect(results[1]?.transition?.reason).toBe('failure_rate');
    expect(results[1]?.state.window).toEqual({ kind: 'time', buckets: [] });
    const fresh = run(policy, [
      [T0, record(FAIL, FAIL, FAIL)],
      [T0 + 10_000, record(OK, OK, FAIL)],
    ]);
    // The first bucket is out of the window: 1 failure of 3 calls, under minimumCalls anyway.
    expect(fresh[1]?.state.window).toEqual({
      kind: 'time',
      buckets: [{ start: T0 + 10_000, calls: 3, failures: 1, slow: 0 }],
    });
    expect(fresh[1]?.state.state).toBe('closed');
  });

  it('starts a fresh window when the policy has none', () => {
    const windowed = resolvePolicy({ slidingWindow: { type: 'count', size: 10 } });
    const [first] = run(windowed, [[T0, record(OK)]]);
    const second = transition(first?.state, record(OK), resolvePolicy(), T0 + 1);
    expect(second.state.window).toEqual({ kind: 'none' });
  });
});

describe('transition: open, half-open and overrides', () => {
  const policy = resolvePolicy({
    failureThreshold: 1,
    openTimeoutMs: 1_000,
    halfOpenMaxCalls: 2,
    successThreshold: 2,
  });

  it('rejects until openUntil, then leases up to halfOpenMaxCalls probes', () => {
    const results = run(policy, [
      [T0, record(FAIL)],
      [T0 + 999, acquire('early')],
      [T0 + 1_000, acquire('a')],
      [T0 + 1_001, acquire('b')],
      [T0 + 1_002, acquire('c')],
    ]);
    expect(results[1]?.admission).toEqual({ allowed: false, reason: 'open', retryAt: T0 + 1_000 });
    expect(results[2]?.transition).toEqual({
      from: 'open',
      to: 'half_open',
      reason: 'open_timeout_elapsed',
      at: T0 + 1_000,
    });
    expect(results[3]?.admission).toEqual({ allowed: true, probe: { id: 'b', round: 1 } });
    expect(results[4]?.admission).toEqual({
      allowed: false,
      reason: 'half_open_full',
      retryAt: T0 + 1_000 + policy.probeLeaseMs,
    });
  });

  it('closes after successThreshold probe successes, announcing the reason', () => {
    const a: ProbeTicket = { id: 'a', round: 1 };
    const b: ProbeTicket = { id: 'b', round: 1 };
    const results = run(policy, [
      [T0, record(FAIL)],
      [T0 + 1_000, acquire('a')],
      [T0 + 1_000, acquire('b')],
      [T0 + 1_100, record({ kind: 'success', probe: a })],
      [T0 + 1_200, record({ kind: 'success', probe: b })],
    ]);
    expect(results[3]?.transition).toBeNull();
    expect(results[4]?.transition).toEqual({
      from: 'half_open',
      to: 'closed',
      reason: 'probe_success_threshold',
      at: T0 + 1_200,
    });
  });

  it('applies jitter from the event to the open period', () => {
    const jittered = resolvePolicy({ failureThreshold: 1, jitterRatio: 0.5 });
    const result = transition(
      undefined,
      { type: 'record', outcomes: [FAIL], jitter: JITTER_SCALE / 2 },
      jittered,
      T0,
    );
    expect(result.state.openUntil).toBe(T0 + 45_000);
  });

  it('announces an expired override when it is next touched', () => {
    const results = run(policy, [
      [T0, { type: 'override', override: { mode: 'forced_open', reason: 'deploy', expiresAt: T0 + 50 } }],
      [T0 + 10, acquire('x')],
      [T0 + 60, acquire('y')],
    ]);
    expect(results[0]?.transition).toEqual({
      from: 'closed',
      to: 'forced_open',
      reason: 'forced_open',
      at: T0,
    });
    expect(results[1]?.admission).toEqual({ allowed: false, reason: 'forced_open', retryAt: T0 + 50 });
    expect(results[2]?.transition).toEqual({
      from: 'forced_open',
      to: 'closed',
      reason: 'override_expired',
      at: T0 + 60,
    });
    expect(results[2]?.admission).toEqual({ allowed: true, probe: null });
  });

  it('clearing an absent override writes nothing', () => {
    expect(transition(undefined, { type: 'override', override: null }, policy, T0).changed).toBe(false);
  });

  it('reset keeps the half-open round counter so late probes stay stale', () => {
    const results = run(policy, [
      [T0, record(FAIL)],
      [T0 + 1_000, acquire('a')],
      [T0 + 1_001, { type: 'reset' }],
      [T0 + 1_002, record({ kind: 'success', probe: { id: 'a', round: 1 } })],
    ]);
    expect(results[2]?.state).toMatchObject({
      state: 'closed',
      halfOpenRound: 1,
      probes: [],
      consecutiveOpens: 0,
    });
    expect(results[2]?.transition?.reason).toBe('reset');
    expect(results[3]?.changed).toBe(false);
  });
});

// ---- properties -------------------------------------------------------------------------------

type Step =
  | { kind: 'advance'; ms: number }
  | { kind: 'acquire'; jitter: number }
  | {
      kind: 'record';
      outcomes: Array<{ kind: CallOutcome['kind']; slow: boolean; ticket: number | null }>;
      jitter: number;
    }
  | { kind: 'override'; mode: 'forced_open' | 'forced_closed' | null; durationMs: number | null }
  | { kind: 'reset' };

const policyArbitrary = fc
  .record({
    failureThreshold: fc.integer({ min: 1, max: 6 }),
    successThreshold: fc.integer({ min: 1, max: 4 }),
    halfOpenMaxCalls: fc.integer({ min: 1, max: 4 }),
    openTimeoutMs: fc.integer({ min: 1, max: 5_000 }),
    extraMaxMs: fc.integer({ min: 0, max: 20_000 }),
    backoffMultiplier: fc.constantFrom(1, 1.5, 2, 3),
    jitterRatio: fc.constantFrom(0, 0.1, 0.5, 1),
    probeLeaseMs: fc.integer({ min: 1, max: 3_000 }),
    window: fc.constantFrom('none', 'count', 'time'),
    slow: fc.boolean(),
  })
  .map((p) =>
    resolvePolicy({
      failureThreshold: p.failureThreshold,
      successThreshold: p.successThreshold,
      halfOpenMaxCalls: p.halfOpenMaxCalls,
      openTimeoutMs: p.openTimeoutMs,
      maxOpenTimeoutMs: p.openTimeoutMs + p.extraMaxMs,
      backoffMultiplier: p.backoffMultiplier,
      jitterRatio: p.jitterRatio,
      probeLeaseMs: p.probeLeaseMs,
      slidingWindow:
        p.window === 'none'
          ? null
          : p.window === 'count'
            ? { type: 'count', size: 5 }
            : { type: 'time', durationMs: 2_000, bucketCount: 4 },
      minimumCalls: 3,
      failureRateThreshold: 0.6,
      slowCallDurationMs: p.window !== 'none' && p.slow ? 100 : null,
      slowCallRateThreshold: 0.8,
    }),
  );

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 4_000 }) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('acquire' as const),
      jitter: fc.integer({ min: 0, max: JITTER_SCALE - 1 }),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('record' as const),
      outcomes: fc.array(
        fc.record({
          kind: fc.constantFrom('success', 'failure', 'ignored') as fc.Arbitrary<CallOutcome['kind']>,
          slow: fc.boolean(),
          ticket: fc.option(fc.nat(30), { nil: null }),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      jitter: fc.integer({ min: 0, max: JITTER_SCALE - 1 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('override' as const),
      mode: fc.constantFrom('forced_open', 'forced_closed', null) as fc.Arbitrary<
        'forced_open' | 'forced_closed' | null
      >,
      durationMs: fc.option(fc.integer({ min: 1, max: 5_000 }), { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'reset' as const }) },
);

describe('transition: properties', () => {
  it('holds the breaker invariants over random event sequences', () => {
    fc.assert(
      fc.property(policyArbitrary, fc.array(stepArbitrary, { maxLength: 60 }), (policy, steps) => {
        let now = T0;
        let state: CircuitStateData | undefined;
        const tickets: ProbeTicket[] = [];
        let leases = 0;
        for (const step of steps) {
          if (step.kind === 'advance') {
            now += step.ms;
            continue;
          }
          let event: CircuitEvent;
          if (step.kind === 'acquire') event = acquire(`lease-${leases++}`, step.jitter);
          else if (step.kind === 'record') {
            event = {
              type: 'record',
              jitter: step.jitter,
              outcomes: step.outcomes.map((o) => ({
                kind: o.kind,
                slow: o.slow,
                probe: o.ticket === null ? null : (tickets[o.ticket % Math.max(1, tickets.length)] ?? null),
              })),
            };
          } else if (step.kind === 'override') {
            event = {
              type: 'override',
              override:
                step.mode === null
                  ? null
                  : {
                      mode: step.mode,
                      reason: null,
                      expiresAt: step.durationMs === null ? null : now + step.durationMs,
                    },
            };
          } else event = { type: 'reset' };

          const before = state;
          const result = transition(before, event, policy, now);
          const after = result.state;

          // Stored data is always valid.
          expect(findStateDataProblem(after)).toBeNull();
          // Never more concurrent half-open probes than allowed.
          expect(after.probes.length).toBeLessThanOrEqual(policy.halfOpenMaxCalls);
          // Version strictly grows with every write, and nothing changes without a write.
          if (result.changed) {
            expect(after.version).toBeGreaterThan(before?.version ?? 0);
            expect(after.version).toBeGreaterThanOrEqual(now * 1_000);
          } else expect(after).toBe(before ?? after);
          // A status change is announced exactly when the stored status changed.
          const statusBefore = before === undefined ? 'closed' : (before.override?.mode ?? before.state);
          const statusAfter = after.override?.mode ?? after.state;
          expect(result.transition !== null).toBe(result.changed && statusBefore !== statusAfter);
          // An open circuit admits nothing before its open period ends.
          if (
            event.type === 'acquire' &&
            before?.state === 'open' &&
            now < before.openUntil &&
            (before.override === null ||
              before.override.mode !== 'forced_closed' ||
              (before.override.expiresAt ?? Infinity) <= now)
          ) {
            expect(result.admission?.allowed).toBe(false);
          }
          // The open period follows the backoff rule.
          if (
            after.state === 'open' &&
            (before?.state !== 'open' || after.consecutiveOpens !== before.consecutiveOpens)
          ) {
            expect(after.consecutiveOpens).toBeGreaterThanOrEqual(1);
            if (event.type === 'record' && Array.isArray(event.outcomes) && event.outcomes.length === 1) {
              expect(after.consecutiveOpens).toBe((before?.consecutiveOpens ?? 0) + 1);
            }
            const jitter = event.type === 'record' ? event.jitter : 0;
            const base = backoffDuration(policy, after.consecutiveOpens);
            expect(after.openUntil - now).toBe(openDuration(policy, after.consecutiveOpens, jitter));
            expect(after.openUntil - now).toBeLessThanOrEqual(Math.min(base, policy.maxOpenTimeoutMs));
            expect(after.openUntil - now).toBeGreaterThanOrEqual(
              Math.max(1, Math.floor(base * (1 - policy.jitterRatio))),
            );
          }
          if (result.admission?.allowed && result.admission.probe !== null)
            tickets.push(result.admission.probe);
          state = after;
        }
      }),
      { numRuns: 2_000 },
    );
  });
});

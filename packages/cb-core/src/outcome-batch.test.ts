import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CircuitStateData, createInitialState } from './circuit-state.js';
import {
  assertRecordedOutcomes,
  findOutcomeBatchProblem,
  OutcomeBatchBuilder,
  reduceOutcomes,
  TripDetector,
} from './outcome-batch.js';
import { type CircuitPolicy, resolvePolicy } from './policy.js';
import type { CallOutcome } from './store.js';
import { transition } from './transition.js';

const T0 = Date.UTC(2026, 11, 1, 12);

type Kind = 'success' | 'failure';
const outcomeArb = fc.record({ failed: fc.boolean(), slow: fc.boolean() });

const policyArb: fc.Arbitrary<CircuitPolicy> = fc
  .record({
    failureThreshold: fc.integer({ min: 1, max: 12 }),
    window: fc.constantFrom('none', 'count', 'time'),
    size: fc.integer({ min: 1, max: 12 }),
    minimumCalls: fc.integer({ min: 1, max: 12 }),
    failureRateThreshold: fc.constantFrom(0.25, 0.5, 0.75, 1),
    slow: fc.boolean(),
  })
  .map((p) =>
    resolvePolicy({
      failureThreshold: p.failureThreshold,
      slidingWindow:
        p.window === 'none'
          ? null
          : p.window === 'count'
            ? { type: 'count', size: p.size }
            : { type: 'time', durationMs: 6_000, bucketCount: 6 },
      minimumCalls: p.window === 'count' ? Math.min(p.minimumCalls, p.size) : p.minimumCalls,
      failureRateThreshold: p.failureRateThreshold,
      ...(p.window !== 'none' && p.slow ? { slowCallDurationMs: 10, slowCallRateThreshold: 0.5 } : {}),
    }),
  );

/** The reduction written the obvious way, as a reference. */
function naiveBatch(outcomes: readonly { failed: boolean; slow: boolean }[], size: number) {
  const codes = outcomes.map((o) => (o.failed ? (o.slow ? 'F' : 'f') : o.slow ? 'S' : 's')).join('');
  const lastSuccess = outcomes.map((o) => !o.failed).lastIndexOf(true);
  const lastFailure = outcomes.map((o) => o.failed).lastIndexOf(true);
  return {
    calls: outcomes.length,
    failures: outcomes.filter((o) => o.failed).length,
    slowCalls: outcomes.filter((o) => o.slow).length,
    trailingFailures: outcomes.length - 1 - lastSuccess,
    trailingSuccesses: outcomes.length - 1 - lastFailure,
    recent: size === 0 ? '' : codes.slice(-size),
  };
}

describe('OutcomeBatchBuilder and reduceOutcomes', () => {
  it('reduce any list of outcomes exactly as the obvious reference does', () => {
    fc.assert(
      fc.property(policyArb, fc.array(outcomeArb, { maxLength: 60 }), (policy, outcomes) => {
        const size = policy.slidingWindow?.type === 'count' ? policy.slidingWindow.size : 0;
        const builder = new OutcomeBatchBuilder(policy);
        for (const o of outcomes) builder.add(o.failed, o.slow);
        const expected =
          outcomes.length === 0
            ? { calls: 0, failures: 0, slowCalls: 0, trailingFailures: 0, trailingSuccesses: 0, recent: '' }
            : naiveBatch(outcomes, size);
        expect(builder.build()).toEqual(expected);
        const list: CallOutcome[] = outcomes.map((o) => ({
          kind: o.failed ? 'failure' : 'success',
          slow: o.slow,
        }));
        expect(reduceOutcomes(list, policy).batch).toEqual(expected);
        expect(findOutcomeBatchProblem(expected, policy)).toBeNull();
      }),
      { numRuns: 1_000 },
    );
  });

  it('keeps ignored outcomes out of the batch and probe outcomes aside, in order', () => {
    const policy = resolvePolicy({ slidingWindow: { type: 'count', size: 4 }, minimumCalls: 2 });
    const first = { id: 'a', round: 1 };
    const second = { id: 'b', round: 1 };
    const reduced = reduceOutcomes(
      [
        { kind: 'failure' },
        { kind: 'success', probe: first },
        { kind: 'ignored' },
        { kind: 'ignored', probe: second },
        { kind: 'success', slow: true },
      ],
      policy,
    );
    expect(reduced.batch).toEqual({
      calls: 2,
      failures: 1,
      slowCalls: 1,
      trailingFailures: 0,
      trailingSuccesses: 1,
      recent: 'fS',
    });
    expect(reduced.probes.map((o) => o.probe)).toEqual([first, second]);
  });

  it('reduces a million outcomes to a batch whose size is bounded by the window', () => {
    const policy = resolvePolicy({ slidingWindow: { type: 'count', size: 10_000 } });
    const builder = new OutcomeBatchBuilder(policy);
    for (let i = 0; i < 1_000_000; i++) builder.add(i % 100 === 0, false);
    const batch = builder.build();
    expect(batch).toMatchObject({ calls: 1_000_000, failures: 10_000, trailingSuccesses: 99 });
    expect(batch.recent).toHaveLength(10_000);
    expect(batch.recent.slice(-100)).toBe(`f${'s'.repeat(99)}`);
  });

  it('rejects lists and batches that could not have come from real calls', () => {
    const policy = resolvePolicy({ slidingWindow: { type: 'count', size: 3 }, minimumCalls: 3 });
    const valid = {
      calls: 4,
      failures: 1,
      slowCalls: 0,
      trailingFailures: 1,
      trailingSuccesses: 0,
      recent: 'ssf',
    };
    expect(assertRecordedOutcomes(valid, policy)).toBe(valid);
    const cases: Array<[unknown, RegExp]> = [
      [{ ...valid, calls: 0.5 }, /batch.calls must be a non-negative integer/],
      [{ ...valid, failures: 5 }, /failures must be at most batch.calls/],
      [{ ...valid, slowCalls: 5 }, /slowCalls must be at most batch.calls/],
      [{ ...valid, trailingFailures: 2 }, /at most the failures/],
      [{ ...valid, trailingSuccesses: 1 }, /exactly one of/],
      [{ ...valid, recent: 'sf' }, /last 3 outcome codes/],
      [{ ...valid, recent: 'ssx' }, /string of s, S, f, F/],
      [[{ kind: 'fail' }], /outcomes\[0\].kind/],
      [[{ kind: 'failure' }, { kind: 'success', slow: 1 }], /outcomes\[1\].slow/],
      [[{ kind: 'success', probe: { id: 'x' } }], /outcomes\[0\].probe/],
      [null, /outcome batch/],
    ];
    for (const [input, message] of cases)
      expect(() => assertRecordedOutcomes(input, policy)).toThrow(message);
  });
});

/**
 * The per-outcome reference: one outcome at a time through the transition, from the view. The
 * detector must name the same first tripping outcome, in constant time per outcome.
 */
function firstTripOneByOne(
  view: CircuitStateData,
  outcomes: readonly { failed: boolean; slow: boolean }[],
  policy: CircuitPolicy,
  now: number,
): number {
  let state = view;
  for (let i = 0; i < outcomes.length; i++) {
    const o = outcomes[i] as { failed: boolean; slow: boolean };
    const kind: Kind = o.failed ? 'failure' : 'success';
    const result = transition(
      state,
      { type: 'record', outcomes: [{ kind, slow: o.slow }], jitter: 0 },
      policy,
      now,
    );
    if (result.state.state === 'open') return i;
    state = result.state;
  }
  return -1;
}

function firstTripDetected(
  views: readonly CircuitStateData[],
  switchAt: number,
  outcomes: readonly { failed: boolean; slow: boolean }[],
  policy: CircuitPolicy,
  now: number,
): number {
  const builder = new OutcomeBatchBuilder(policy);
  const detector = new TripDetector(policy);
  for (let i = 0; i < outcomes.length; i++) {
    const o = outcomes[i] as { failed: boolean; slow: boolean };
    builder.add(o.failed, o.slow);
    const view = (i < switchAt ? views[0] : views[1]) as CircuitStateData;
    if (detector.add(view, builder, o.failed, o.slow, now)) return i;
  }
  return -1;
}

/** A closed view with some history, built through the transition itself. */
function viewAfter(
  history: readonly { failed: boolean; slow: boolean }[],
  policy: CircuitPolicy,
  at: number,
) {
  let state: CircuitStateData = createInitialState(at);
  for (const [i, o] of history.entries()) {
    const next = transition(
      state,
      { type: 'record', outcomes: [{ kind: o.failed ? 'failure' : 'success', slow: o.slow }], jitter: 0 },
      policy,
      at + i * 700,
    ).state;
    if (next.state !== 'closed') break;
    state = next;
  }
  return state;
}

describe('TripDetector', () => {
  it('names the same first tripping outcome as applying outcomes one by one', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.array(outcomeArb, { maxLength: 20 }),
        fc.array(outcomeArb, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 6_000 }),
        (policy, history, outcomes, later) => {
          const view = viewAfter(history, policy, T0);
          const now = T0 + history.length * 700 + later;
          expect(firstTripDetected([view, view], outcomes.length, outcomes, policy, now)).toBe(
            firstTripOneByOne(view, outcomes, policy, now),
          );
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('starts again from a view that was replaced while the batch was collected', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.array(outcomeArb, { maxLength: 20 }),
        fc.array(outcomeArb, { maxLength: 20 }),
        fc.array(outcomeArb, { minLength: 2, maxLength: 30 }),
        (policy, historyA, historyB, outcomes) => {
          const a = viewAfter(historyA, policy, T0);
          const b = viewAfter(historyB, policy, T0);
          const now = T0 + 30_000;
          const switchAt = Math.floor(outcomes.length / 2);
          const detected = firstTripDetected([a, b], switchAt, outcomes, policy, now);
          const beforeSwitch = firstTripOneByOne(a, outcomes.slice(0, switchAt), policy, now);
          if (beforeSwitch >= 0) {
            expect(detected).toBe(beforeSwitch);
            return;
          }
          // From the switch on, the batch so far counts on top of the new view.
          let expected = -1;
          for (let i = switchAt; i < outcomes.length && expected < 0; i++) {
            const reduced = reduceOutcomes(
              outcomes.slice(0, i + 1).map((o) => ({ kind: o.failed ? 'failure' : 'success', slow: o.slow })),
              policy,
            ).batch;
            const result = transition(b, { type: 'record', outcomes: reduced, jitter: 0 }, policy, now);
            if (result.state.state === 'open') expected = i;
          }
          expect(detected).toBe(expected);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('ages the base view out of a time window as time passes', () => {
    const policy = resolvePolicy({
      failureThreshold: 100,
      slidingWindow: { type: 'time', durationMs: 10_000, bucketCount: 10 },
      minimumCalls: 4,
      failureRateThreshold: 0.5,
    });
    const view = viewAfter(
      Array.from({ length: 3 }, () => ({ failed: true, slow: false })),
      policy,
      T0,
    );
    const detector = new TripDetector(policy);
    const builder = new OutcomeBatchBuilder(policy);
    builder.add(false, false);
    // Three failures of the view plus one success: 3/4 trips while they are in the window...
    expect(detector.add(view, builder, false, false, T0 + 5_000)).toBe(true);
    // ...and a later success no longer sees them once their buckets aged out.
    builder.add(false, false);
    expect(detector.add(view, builder, false, false, T0 + 12_500)).toBe(false);
    // A bucket leaves the window exactly when its span ends (as in the transition).
    const atEdge = (now: number): boolean => {
      const edge = new TripDetector(policy);
      const three = new OutcomeBatchBuilder(policy);
      let tripped = false;
      for (let i = 0; i < 3; i++) {
        three.add(false, false);
        tripped = edge.add(view, three, false, false, now);
      }
      return tripped;
    };
    // The view's failures sit in the buckets of T0 (two) and T0 + 1 s (one).
    expect(atEdge(T0 + 9_999)).toBe(true);
    expect(atEdge(T0 + 10_000)).toBe(false);
  });
});

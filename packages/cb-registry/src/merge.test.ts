import {
  type CircuitOverride,
  type CircuitStateData,
  type CircuitTombstone,
  createInitialState,
  isTombstone,
  type StoredCircuit,
} from '@xnai/cb-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { comparePlain, mergeStates, sameStateContent } from './merge.js';

const time = fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_020 });

const overrideArbitrary: fc.Arbitrary<CircuitOverride | null> = fc.option(
  fc.record(
    {
      mode: fc.constantFrom('forced_open' as const, 'forced_closed' as const),
      reason: fc.option(fc.constantFrom('maintenance', 'incident', ''), { nil: null }),
      expiresAt: fc.option(time, { nil: null }),
      setAt: time,
      // Stored data has ordinary prototypes; null-prototype objects would only trip toEqual.
    },
    { noNullPrototype: true },
  ),
  { nil: null },
);

const stateArbitrary: fc.Arbitrary<CircuitStateData> = fc
  .record(
    {
      state: fc.constantFrom('closed' as const, 'open' as const, 'half_open' as const),
      failureCount: fc.integer({ min: 0, max: 6 }),
      successCount: fc.integer({ min: 0, max: 3 }),
      lastFailureTime: time,
      lastSuccessTime: time,
      lastStateChange: time,
      version: fc.integer({ min: 0, max: 5 }),
      consecutiveOpens: fc.integer({ min: 0, max: 3 }),
      openUntil: time,
      halfOpenRound: fc.integer({ min: 0, max: 3 }),
      decidedAt: fc.constantFrom(0, 1_700_000_000_005, 1_700_000_000_010),
      override: overrideArbitrary,
      probeIds: fc.uniqueArray(fc.constantFrom('a.1', 'b.2', 'c.3'), { maxLength: 2 }),
      window: fc.oneof(
        fc.constant({ kind: 'none' as const }),
        fc.record(
          { kind: fc.constant('count' as const), outcomes: fc.stringMatching(/^[sfSF]{0,4}$/) },
          { noNullPrototype: true },
        ),
        fc.record(
          {
            kind: fc.constant('time' as const),
            buckets: fc.array(
              fc.record(
                {
                  start: fc.constantFrom(0, 1_000),
                  calls: fc.constantFrom(9, 10),
                  failures: fc.nat(9),
                  slow: fc.nat(9),
                },
                { noNullPrototype: true },
              ),
              { maxLength: 2 },
            ),
          },
          { noNullPrototype: true },
        ),
      ),
    },
    { noNullPrototype: true },
  )
  .map(({ probeIds, ...rest }) => ({
    schemaVersion: 1 as const,
    ...rest,
    // Probes belong to the circuit's current half-open round, as the transition function keeps them.
    probes: probeIds.map((id) => ({ id, round: rest.halfOpenRound, expiresAt: rest.openUntil + 1 })),
  }));

const tombstoneArbitrary: fc.Arbitrary<CircuitTombstone> = fc.record(
  {
    deleted: fc.constant(true as const),
    version: fc.integer({ min: 0, max: 5 }),
    decidedAt: fc.constantFrom(0, 1_700_000_000_005, 1_700_000_000_010),
  },
  { noNullPrototype: true },
);

const entryArbitrary: fc.Arbitrary<StoredCircuit> = fc.oneof(
  { weight: 4, arbitrary: stateArbitrary },
  { weight: 1, arbitrary: tombstoneArbitrary },
);

const side = fc.option(entryArbitrary, { nil: undefined });

describe('mergeStates', () => {
  it('is commutative', () => {
    fc.assert(
      fc.property(side, side, (a, b) => {
        expect(mergeStates(a, b)).toStrictEqual(mergeStates(b, a));
      }),
      { numRuns: 2_000 },
    );
  });

  it('is idempotent: merge(a, a) = a and merge(merge(a, b), b) = merge(a, b)', () => {
    fc.assert(
      fc.property(side, side, (a, b) => {
        expect(mergeStates(a, a)).toStrictEqual(a);
        const once = mergeStates(a, b);
        expect(mergeStates(once, b)).toStrictEqual(once);
        expect(mergeStates(a, once)).toStrictEqual(once);
      }),
      { numRuns: 2_000 },
    );
  });

  it('is associative, so the order in which instances reconcile does not matter', () => {
    fc.assert(
      fc.property(side, side, side, (a, b, c) => {
        expect(mergeStates(mergeStates(a, b), c)).toStrictEqual(mergeStates(a, mergeStates(b, c)));
      }),
      { numRuns: 2_000 },
    );
  });

  it('takes the later decision whole: an operator action or a fleet transition beats older history', () => {
    fc.assert(
      fc.property(entryArbitrary, entryArbitrary, (a, b) => {
        fc.pre(a.decidedAt !== b.decidedAt);
        const later = a.decidedAt > b.decidedAt ? a : b;
        const merged = mergeStates(a, b) as StoredCircuit;
        expect(merged.decidedAt).toBe(later.decidedAt);
        expect(merged.version).toBe(Math.max(a.version, b.version));
        expect(isTombstone(merged)).toBe(isTombstone(later));
        if (!isTombstone(merged) && !isTombstone(later)) {
          expect(merged.state).toBe(later.state);
          expect(merged.override).toStrictEqual(later.override);
          expect(merged.failureCount).toBe(later.failureCount);
          expect(merged.openUntil).toBe(later.openUntil);
          expect(merged.halfOpenRound).toBe(later.halfOpenRound);
        }
      }),
    );
  });

  it('between two states of one decision: a manual override over none, the later of two', () => {
    fc.assert(
      fc.property(stateArbitrary, stateArbitrary, (a, b0) => {
        const b = { ...b0, decidedAt: a.decidedAt };
        const merged = mergeStates(a, b) as CircuitStateData;
        if (a.override === null && b.override === null) expect(merged.override).toBeNull();
        else if (a.override === null) expect(merged.override).toStrictEqual(b.override);
        else if (b.override === null) expect(merged.override).toStrictEqual(a.override);
        else {
          expect(merged.override?.setAt).toBe(Math.max(a.override.setAt, b.override.setAt));
          if (a.override.setAt === b.override.setAt && a.override.mode !== b.override.mode) {
            expect(merged.override?.mode).toBe('forced_open');
          }
        }
      }),
    );
  });

  it('between two states of one decision: the newer transition, a tie going to the more severe state', () => {
    const severity = { closed: 0, half_open: 1, open: 2 };
    fc.assert(
      fc.property(stateArbitrary, stateArbitrary, (a, b0) => {
        const b = { ...b0, decidedAt: a.decidedAt };
        const merged = mergeStates(a, b) as CircuitStateData;
        if (a.lastStateChange !== b.lastStateChange) {
          const newer = a.lastStateChange > b.lastStateChange ? a : b;
          expect(merged.state).toBe(newer.state);
          expect(merged.failureCount).toBe(newer.failureCount);
          expect(merged.openUntil).toBe(newer.openUntil);
          expect(merged.consecutiveOpens).toBe(newer.consecutiveOpens);
        } else {
          expect(severity[merged.state]).toBe(Math.max(severity[a.state], severity[b.state]));
        }
        expect(merged.lastFailureTime).toBe(Math.max(a.lastFailureTime, b.lastFailureTime));
        expect(merged.lastSuccessTime).toBe(Math.max(a.lastSuccessTime, b.lastSuccessTime));
        expect(merged.version).toBe(Math.max(a.version, b.version));
        expect(merged.halfOpenRound).toBe(Math.max(a.halfOpenRound, b.halfOpenRound));
        for (const lease of merged.probes) expect(lease.round).toBe(merged.halfOpenRound);
      }),
    );
  });

  it('keeps a deletion against the older copy of an instance that was cut off meanwhile', () => {
    const open = {
      ...createInitialState(1_000),
      state: 'open' as const,
      openUntil: 61_000,
      version: 7,
      decidedAt: 1_000,
    };
    const deleted: CircuitTombstone = { deleted: true, version: 9, decidedAt: 2_000 };
    expect(mergeStates(open, deleted)).toStrictEqual(deleted);
    expect(mergeStates(deleted, open)).toStrictEqual(deleted);
    // Created again after the deletion (a later decision): the new circuit holds.
    const reopened = { ...open, lastStateChange: 3_000, version: 12, decidedAt: 3_000 };
    expect(mergeStates(deleted, reopened)).toStrictEqual(reopened);
  });

  it('keeps a reset made while an instance was cut off, against the half-open its old failure led to', () => {
    // t1: the isolated mirror opens on a failure (no decision: it stays at the decision of t0).
    const isolated = {
      ...createInitialState(500),
      state: 'half_open' as const,
      lastStateChange: 3_000, // t3: the mirror's open period ended, it moved to half-open
      consecutiveOpens: 3,
      halfOpenRound: 4,
      version: 10,
      decidedAt: 500,
    };
    // t2: an operator reset through another instance, a decision.
    const reset = { ...createInitialState(2_000), version: 8, decidedAt: 2_000 };
    const merged = mergeStates(isolated, reset) as CircuitStateData;
    expect(merged).toMatchObject({ state: 'closed', consecutiveOpens: 0, decidedAt: 2_000, version: 10 });
  });

  it('compares numbers as numbers in the tie-break: a count of 10 is above 9', () => {
    expect(comparePlain([10], [9])).toBeGreaterThan(0);
    expect(comparePlain(['a', 10], ['a', 9])).toBeGreaterThan(0);
    const base = { ...createInitialState(1_000), decidedAt: 1_000 };
    const nine = { ...base, failureCount: 9 };
    const ten = { ...base, failureCount: 10 };
    expect((mergeStates(nine, ten) as CircuitStateData).failureCount).toBe(10);
    expect((mergeStates(ten, nine) as CircuitStateData).failureCount).toBe(10);
  });

  it('re-seeds from the side that still has the circuit', () => {
    const open = { ...createInitialState(1_000), state: 'open' as const, openUntil: 61_000, version: 7 };
    expect(mergeStates(undefined, open)).toBe(open);
    expect(mergeStates(open, undefined)).toBe(open);
    expect(mergeStates(undefined, undefined)).toBeUndefined();
  });

  it('keeps an open circuit open against a stale closed copy, and a newer close against a stale open', () => {
    const closedEarly = { ...createInitialState(1_000), version: 5, decidedAt: 500 };
    const openedLater = {
      ...closedEarly,
      state: 'open' as const,
      lastStateChange: 2_000,
      openUntil: 62_000,
      version: 6,
    };
    expect((mergeStates(closedEarly, openedLater) as CircuitStateData).state).toBe('open');
    const closedLater = {
      ...openedLater,
      state: 'closed' as const,
      lastStateChange: 3_000,
      openUntil: 0,
      version: 9,
    };
    expect((mergeStates(openedLater, closedLater) as CircuitStateData).state).toBe('closed');
  });
});

describe('sameStateContent', () => {
  it('ignores the version and key order only', () => {
    const a = createInitialState(1_000);
    const reordered = Object.fromEntries(
      Object.entries({ ...a, version: 9 }).reverse(),
    ) as unknown as CircuitStateData;
    expect(sameStateContent(a, reordered)).toBe(true);
    expect(sameStateContent(a, { ...a, failureCount: 1 })).toBe(false);
  });
});

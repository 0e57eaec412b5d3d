import { type CircuitOverride, type CircuitStateData, createInitialState } from '@xnai/cb-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mergeStates, sameStateContent } from './merge.js';

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
      override: overrideArbitrary,
      probeIds: fc.uniqueArray(fc.constantFrom('a.1', 'b.2', 'c.3'), { maxLength: 2 }),
      window: fc.oneof(
        fc.constant({ kind: 'none' as const }),
        fc.record(
          { kind: fc.constant('count' as const), outcomes: fc.stringMatching(/^[sfSF]{0,4}$/) },
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

const side = fc.option(stateArbitrary, { nil: undefined });

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

  it('lets a manual override win over none, and the later of two', () => {
    fc.assert(
      fc.property(stateArbitrary, stateArbitrary, (a, b) => {
        const merged = mergeStates(a, b);
        if (a.override === null && b.override === null) expect(merged?.override).toBeNull();
        else if (a.override === null) expect(merged?.override).toStrictEqual(b.override);
        else if (b.override === null) expect(merged?.override).toStrictEqual(a.override);
        else {
          expect(merged?.override?.setAt).toBe(Math.max(a.override.setAt, b.override.setAt));
          if (a.override.setAt === b.override.setAt && a.override.mode !== b.override.mode) {
            expect(merged?.override?.mode).toBe('forced_open');
          }
        }
      }),
    );
  });

  it('takes the state machine from the newer transition, a tie going to the more severe state', () => {
    const severity = { closed: 0, half_open: 1, open: 2 };
    fc.assert(
      fc.property(stateArbitrary, stateArbitrary, (a, b) => {
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

  it('re-seeds from the side that still has the circuit', () => {
    const open = { ...createInitialState(1_000), state: 'open' as const, openUntil: 61_000, version: 7 };
    expect(mergeStates(undefined, open)).toBe(open);
    expect(mergeStates(open, undefined)).toBe(open);
    expect(mergeStates(undefined, undefined)).toBeUndefined();
  });

  it('keeps an open circuit open against a stale closed copy, and a newer close against a stale open', () => {
    const closedEarly = { ...createInitialState(1_000), version: 5 };
    const openedLater = {
      ...closedEarly,
      state: 'open' as const,
      lastStateChange: 2_000,
      openUntil: 62_000,
      version: 6,
    };
    expect(mergeStates(closedEarly, openedLater)?.state).toBe('open');
    const closedLater = {
      ...openedLater,
      state: 'closed' as const,
      lastStateChange: 3_000,
      openUntil: 0,
      version: 9,
    };
    expect(mergeStates(openedLater, closedLater)?.state).toBe('closed');
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

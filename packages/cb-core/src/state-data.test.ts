import { describe, expect, it } from 'vitest';
import { createInitialState } from './circuit-state.js';
import { InvalidStateDataError } from './errors/invalid-state-data-error.js';
import { assertOverrideRequest, assertStateData, findStateDataProblem } from './state-data.js';

const valid = createInitialState(1_700_000_000_000);

describe('findStateDataProblem', () => {
  it('accepts valid data of every window kind, override and probes', () => {
    expect(findStateDataProblem(valid)).toBeNull();
    expect(
      findStateDataProblem({
        ...valid,
        state: 'half_open',
        override: { mode: 'forced_open', reason: 'x', expiresAt: null, setAt: 1 },
        probes: [{ id: 'a', round: 1, expiresAt: 5 }],
        window: { kind: 'time', buckets: [{ start: 0, calls: 3, failures: 2, slow: 1 }] },
      }),
    ).toBeNull();
    expect(findStateDataProblem({ ...valid, window: { kind: 'count', outcomes: 'sSfF' } })).toBeNull();
  });

  it.each([
    [null, 'state data must be an object'],
    ['closed', 'state data must be an object'],
    [{ ...valid, schemaVersion: 2 }, 'schemaVersion must be 1, got 2'],
    [{ ...valid, state: 'ajar' }, 'unknown state "ajar"'],
    [{ ...valid, failureCount: -1 }, 'failureCount must be a non-negative integer, got -1'],
    [{ ...valid, version: 1.5 }, 'version must be a non-negative integer, got 1.5'],
    [{ ...valid, successCount: '3' }, 'successCount must be a non-negative integer, got 3'],
    [
      { ...valid, lastFailureTime: Number.NaN },
      'lastFailureTime must be whole epoch milliseconds (a safe integer), got NaN',
    ],
    [{ ...valid, openUntil: Number.POSITIVE_INFINITY }, 'openUntil must be whole epoch milliseconds'],
    [{ ...valid, lastStateChange: 1_700_000_000_000.5 }, 'lastStateChange must be whole epoch milliseconds'],
    [{ ...valid, openUntil: 1e16 }, 'openUntil must be whole epoch milliseconds'],
    [{ ...valid, decidedAt: -1 }, 'decidedAt must be whole epoch milliseconds'],
    [{ ...valid, override: 'forced_open' }, 'override must be an object or null'],
    [
      { ...valid, override: { mode: 'ajar', reason: null, expiresAt: null, setAt: 1 } },
      'unknown override mode "ajar"',
    ],
    [
      { ...valid, override: { mode: 'forced_open', reason: 5, expiresAt: null, setAt: 1 } },
      'override.reason must be',
    ],
    [
      { ...valid, override: { mode: 'forced_open', reason: null, expiresAt: -1, setAt: 1 } },
      'override.expiresAt must be',
    ],
    [
      { ...valid, override: { mode: 'forced_open', reason: null, expiresAt: null } },
      'override.setAt must be whole epoch milliseconds',
    ],
    [
      { ...valid, override: { mode: 'forced_open', reason: null, expiresAt: Number.NaN, setAt: 1 } },
      'override.expiresAt must be',
    ],
    [
      { ...valid, override: { mode: 'forced_open', reason: 'x'.repeat(1_025), expiresAt: null, setAt: 1 } },
      'override.reason must be',
    ],
    [{ ...valid, probes: [{ id: 'a,b', round: 1, expiresAt: 1 }] }, 'probes must hold'],
    [{ ...valid, probes: {} }, 'probes must be an array'],
    [{ ...valid, probes: [{ id: 1, round: 1, expiresAt: 1 }] }, 'probes must hold'],
    [{ ...valid, probes: [null] }, 'probes must hold'],
    [{ ...valid, window: null }, 'window must be an object'],
    [
      { ...valid, window: { kind: 'count', outcomes: 'sxf' } },
      'window.outcomes must be a string of at most 10,000 of s, S, f, F',
    ],
    [{ ...valid, window: { kind: 'count', outcomes: 's'.repeat(10_001) } }, 'window.outcomes must be'],
    [{ ...valid, window: { kind: 'time', buckets: 'none' } }, 'window.buckets must be an array'],
    [{ ...valid, window: { kind: 'time', buckets: [{ start: 0 }] } }, 'window.buckets must hold'],
    [
      { ...valid, window: { kind: 'time', buckets: [{ start: 0, calls: 1, failures: 2, slow: 0 }] } },
      'at most calls',
    ],
    [{ ...valid, window: { kind: 'ring' } }, 'unknown window kind "ring"'],
  ])('reports %j', (data, problem) => {
    expect(findStateDataProblem(data)).toContain(problem);
    expect(() => assertStateData(data)).toThrow(InvalidStateDataError);
  });

  it('returns valid data typed', () => {
    expect(assertStateData(valid)).toBe(valid);
  });
});

describe('assertOverrideRequest', () => {
  it('accepts a mode with an optional reason, duration or expiry', () => {
    expect(assertOverrideRequest(null)).toBeNull();
    const request = { mode: 'forced_open', reason: 'maintenance', durationMs: 60_000 } as const;
    expect(assertOverrideRequest(request)).toBe(request);
    expect(assertOverrideRequest({ mode: 'forced_closed', expiresAt: 0 })).toMatchObject({
      mode: 'forced_closed',
    });
  });

  it.each([
    [{ mode: 'ajar' }, TypeError, 'override.mode must be "forced_open" or "forced_closed", got "ajar"'],
    [{ mode: 'forced_open', reason: 3 }, TypeError, 'override.reason must be a string'],
    [
      { mode: 'forced_open', durationMs: Number.NaN },
      RangeError,
      'override.durationMs must be a positive whole',
    ],
    [{ mode: 'forced_open', durationMs: 0 }, RangeError, 'override.durationMs must be a positive whole'],
    [{ mode: 'forced_open', durationMs: '5' }, TypeError, 'override.durationMs must be a number'],
    [{ mode: 'forced_open', expiresAt: 1.5 }, RangeError, 'override.expiresAt must be a non-negative whole'],
    [{ mode: 'forced_open', expiresAt: 1e16 }, RangeError, 'override.expiresAt must be a non-negative whole'],
    [{ mode: 'forced_open', until: 5 }, TypeError, 'override has an unknown field "until"'],
    ['forced_open', TypeError, 'override must be an object or null'],
  ])('rejects %j', (request, type, message) => {
    expect(() => assertOverrideRequest(request)).toThrow(type);
    expect(() => assertOverrideRequest(request)).toThrow(message);
  });
});

import { describe, expect, it } from 'vitest';
import { backoffDuration, DEFAULT_POLICY, JITTER_SCALE, openDuration, resolvePolicy } from './policy.js';

describe('resolvePolicy', () => {
  it('fills in the seed defaults', () => {
    expect(resolvePolicy()).toEqual(DEFAULT_POLICY);
    expect(DEFAULT_POLICY).toMatchObject({
      failureThreshold: 5,
      successThreshold: 2,
      openTimeoutMs: 60_000,
      maxOpenTimeoutMs: 300_000,
    });
    expect(Object.isFrozen(DEFAULT_POLICY)).toBe(true);
  });

  it.each([
    [{ failureThreshold: 0 }, RangeError, 'failureThreshold must be a positive integer, got 0'],
    [{ failureThreshold: 1.5 }, RangeError, 'failureThreshold must be a positive integer, got 1.5'],
    [{ failureThreshold: Number.NaN }, RangeError, 'failureThreshold must be a positive integer, got NaN'],
    [{ failureThreshold: '5' }, TypeError, 'failureThreshold must be a positive integer, got "5"'],
    [{ successThreshold: -1 }, RangeError, 'successThreshold must be a positive integer, got -1'],
    [{ halfOpenMaxCalls: 0 }, RangeError, 'halfOpenMaxCalls must be a positive integer, got 0'],
    [{ openTimeoutMs: 0 }, RangeError, 'openTimeoutMs must be a positive integer, got 0'],
    [
      { openTimeoutMs: 10_000, maxOpenTimeoutMs: 5_000 },
      RangeError,
      'maxOpenTimeoutMs must be at least openTimeoutMs',
    ],
    [{ backoffMultiplier: 0.5 }, RangeError, 'backoffMultiplier must be a finite number at least 1'],
    [
      { backoffMultiplier: Number.POSITIVE_INFINITY },
      RangeError,
      'backoffMultiplier must be a finite number',
    ],
    [
      { jitterRatio: 1.5 },
      RangeError,
      'jitterRatio must be a finite number at least 0 and at most 1, got 1.5',
    ],
    [{ failureRateThreshold: 0 }, RangeError, 'failureRateThreshold must be a finite number greater than 0'],
    [
      { slowCallRateThreshold: 2 },
      RangeError,
      'slowCallRateThreshold must be a finite number greater than 0',
    ],
    [{ minimumCalls: 0 }, RangeError, 'minimumCalls must be a positive integer, got 0'],
    [
      { slidingWindow: { type: 'count', size: 5 }, minimumCalls: 10 },
      RangeError,
      'minimumCalls must be at most slidingWindow.size, got 10 and 5',
    ],
    [
      { slidingWindow: { type: 'ring' } },
      TypeError,
      'slidingWindow.type must be one of "count", "time", got "ring"',
    ],
    [{ slidingWindow: 'count' }, TypeError, 'slidingWindow must be an object, got "count"'],
    [
      { slidingWindow: { type: 'time', durationMs: 1_000, bucketCount: 3 } },
      RangeError,
      'slidingWindow.durationMs must divide evenly by slidingWindow.bucketCount, got 1000 and 3',
    ],
    [{ slowCallDurationMs: 100 }, RangeError, 'slowCallDurationMs needs a slidingWindow'],
    [
      { halfOpenMaxCalls: 1_001 },
      RangeError,
      'halfOpenMaxCalls must be an integer of at most 1000, got 1001',
    ],
    [{ probeLeaseMs: 0 }, RangeError, 'probeLeaseMs must be a positive integer, got 0'],
  ])('rejects %j', (options, errorClass, message) => {
    expect(() => resolvePolicy(options as never)).toThrow(errorClass);
    expect(() => resolvePolicy(options as never)).toThrow(message);
  });

  it('derives the probe lease from the call timeout and rejects a shorter explicit one', () => {
    expect(resolvePolicy({}, 45_000).probeLeaseMs).toBe(45_000);
    expect(resolvePolicy({}, 1_000).probeLeaseMs).toBe(30_000);
    expect(() => resolvePolicy({ probeLeaseMs: 1_000 }, 5_000)).toThrow(
      'probeLeaseMs must be at least callTimeoutMs, got 1000 and 5000',
    );
  });

  it('defaults the time window to ten buckets', () => {
    expect(resolvePolicy({ slidingWindow: { type: 'time', durationMs: 60_000 } }).slidingWindow).toEqual({
      type: 'time',
      durationMs: 60_000,
      bucketCount: 10,
    });
  });
});

describe('open period backoff', () => {
  it('grows 60 s, 120 s, 240 s, then holds at the 300 s cap (seed defaults)', () => {
    const policy = resolvePolicy();
    expect([1, 2, 3, 4, 5, 50].map((n) => backoffDuration(policy, n))).toEqual([
      60_000, 120_000, 240_000, 300_000, 300_000, 300_000,
    ]);
  });

  it('stays constant with a multiplier of 1', () => {
    const policy = resolvePolicy({ backoffMultiplier: 1 });
    expect(backoffDuration(policy, 7)).toBe(60_000);
  });

  it('takes at most jitterRatio off the period', () => {
    const policy = resolvePolicy({ jitterRatio: 0.2 });
    expect(openDuration(policy, 1, 0)).toBe(60_000);
    expect(openDuration(policy, 1, JITTER_SCALE - 1)).toBe(48_000);
    expect(openDuration(policy, 1, JITTER_SCALE / 2)).toBe(54_000);
  });
});

import type { CallEvent } from '@xnai/cb-core';
import { describe, expect, it } from 'vitest';
import { CallStats, quantile } from './call-stats.js';

const success = (durationMs: number, name = 'db'): CallEvent => ({
  type: 'success',
  name,
  durationMs,
  probe: false,
});
const rejected = (name = 'db'): CallEvent => ({
  type: 'rejected',
  name,
  durationMs: 0,
  reason: 'open',
  retryAt: null,
});

describe('quantile', () => {
  it('is the nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, index) => index + 1);
    expect(quantile(values, 0.99)).toBe(99);
    expect(quantile(values, 0.5)).toBe(50);
    expect(quantile([7], 0.99)).toBe(7);
    expect(quantile([], 0.99)).toBeNull();
  });
});

describe('CallStats', () => {
  it('counts outcomes per bucket and per circuit, the p99 over calls that ran', () => {
    let now = 10_000;
    const stats = new CallStats({ bucketMs: 1_000, bucketCount: 3, now: () => now });
    for (let i = 1; i <= 100; i += 1) stats.record(success(i));
    stats.record(rejected());
    stats.record(success(5, 'cache'));
    now += 1_000;
    stats.record({ type: 'failure', name: 'db', durationMs: 300, probe: false, error: new Error('x') });
    const series = stats.series();
    expect(series.starts).toEqual([9_000, 10_000, 11_000]);
    expect(series.circuits.db?.counts.success).toEqual([0, 100, 0]);
    expect(series.circuits.db?.counts.rejected).toEqual([0, 1, 0]);
    expect(series.circuits.db?.counts.failure).toEqual([0, 0, 1]);
    // Rejections took no time and are not latency: the p99 is of the 100 successes.
    expect(series.circuits.db?.p99Ms).toEqual([null, 99, 300]);
    expect(series.circuits.cache?.counts.success).toEqual([0, 1, 0]);
  });

  it('forgets buckets older than the window', () => {
    let now = 0;
    const stats = new CallStats({ bucketMs: 1_000, bucketCount: 2, now: () => now });
    stats.record(success(1));
    now = 5_000;
    stats.record(success(2));
    const series = stats.series();
    expect(series.starts).toEqual([4_000, 5_000]);
    expect(series.circuits.db?.counts.success).toEqual([0, 1]);
  });

  it('keeps at most maxSamples durations per bucket, sampled uniformly', () => {
    const stats = new CallStats({ bucketMs: 60_000, bucketCount: 1, maxSamples: 100, now: () => 0 });
    // 10,000 calls of 1 ms, then 10,000 of 1,000 ms: a uniform sample is about half slow.
    for (let i = 0; i < 10_000; i += 1) stats.record(success(1));
    for (let i = 0; i < 10_000; i += 1) stats.record(success(1_000));
    const series = stats.series();
    expect(series.circuits.db?.counts.success).toEqual([20_000]);
    expect(series.circuits.db?.p99Ms).toEqual([1_000]);
  });
});

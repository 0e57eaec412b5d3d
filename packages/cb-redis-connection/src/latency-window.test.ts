import { describe, expect, it } from 'vitest';
import { LatencyWindow } from './latency-window.js';

describe('LatencyWindow', () => {
  it('reports nearest-rank p50 and p99 of the recent samples only', () => {
    const window = new LatencyWindow(100);
    expect(window.percentile(50)).toBeNull();
    for (let value = 1; value <= 100; value += 1) window.record(value);
    expect(window.percentile(50)).toBe(50);
    expect(window.percentile(99)).toBe(99);
    for (let value = 0; value < 100; value += 1) window.record(1000);
    expect(window.count).toBe(100);
    expect(window.percentile(50)).toBe(1000);
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigurationBackoff, reconnectDelayMs } from './backoff.js';

describe('reconnectDelayMs', () => {
  it('doubles from 50 ms up to the cap, plus up to 10 % jitter', () => {
    expect([1, 2, 3, 4, 5, 30].map((attempt) => reconnectDelayMs(attempt, 250, () => 0))).toEqual([
      50, 100, 200, 250, 250, 250,
    ]);
    expect(reconnectDelayMs(1, 250, () => 0.999)).toBe(55);
  });
});

describe('ConfigurationBackoff', () => {
  it('waits 1 s, 2 s, 4 s … capped at 30 s, plus up to 10 % jitter, and starts over after reset()', () => {
    const backoff = new ConfigurationBackoff(() => 0);
    expect(Array.from({ length: 8 }, () => backoff.nextDelayMs())).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ]);
    expect(backoff.failures).toBe(8);
    backoff.reset();
    expect(backoff.nextDelayMs()).toBe(1_000);
    expect(new ConfigurationBackoff(() => 0.999).nextDelayMs()).toBe(1_100);
  });
});

import { describe, expect, it } from 'vitest';
import { AdaptiveTimeout } from './adaptive-timeout.js';

describe('AdaptiveTimeout', () => {
  it('grows ×1.5 per consecutive failure (formula, not the seed table), capped at the maximum', () => {
    const timeout = new AdaptiveTimeout(5000, 30_000, true);
    const seen = [timeout.currentMs];
    for (let failure = 0; failure < 7; failure += 1) {
      timeout.recordFailure();
      seen.push(timeout.currentMs);
    }
    expect(seen).toEqual([5000, 7500, 11250, 16875, 25313, 30000, 30000, 30000]);
  });

  it('returns to the base after one success', () => {
    const timeout = new AdaptiveTimeout(5000, 30_000, true);
    timeout.recordFailure();
    timeout.recordFailure();
    timeout.recordSuccess();
    expect(timeout.currentMs).toBe(5000);
    expect(timeout.failures).toBe(0);
  });

  it('stays at the base when disabled', () => {
    const timeout = new AdaptiveTimeout(2000, 30_000, false);
    for (let failure = 0; failure < 5; failure += 1) timeout.recordFailure();
    expect(timeout.currentMs).toBe(2000);
  });
});

import { describe, expect, it, vi } from 'vitest';
import { monotonicNow, systemClock } from './clock.js';

describe('systemClock', () => {
  it('is frozen, tells epoch time, and schedules unref’d timers that can be cleared', async () => {
    expect(Object.isFrozen(systemClock)).toBe(true);
    const fired = vi.fn();
    const handle = systemClock.setTimeout(fired, 1) as { hasRef(): boolean };
    expect(handle.hasRef()).toBe(false);
    const cleared = systemClock.setTimeout(fired, 1);
    systemClock.clearTimeout(cleared);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fired).toHaveBeenCalledTimes(1);
    expect(Math.abs(systemClock.now() - Date.now())).toBeLessThan(5);
  });

  it('measures durations on performance.now(), which does not follow the wall clock', () => {
    vi.useFakeTimers({ now: Date.UTC(2001, 0, 1), toFake: ['Date'] });
    try {
      expect(systemClock.now()).toBe(Date.UTC(2001, 0, 1));
      expect(Math.abs(monotonicNow(systemClock) - performance.now())).toBeLessThan(5);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('monotonicNow', () => {
  it('reads monotonic() when the clock has one, else now()', () => {
    expect(monotonicNow({ now: () => 1, monotonic: () => 2 })).toBe(2);
    expect(monotonicNow({ now: () => 1 })).toBe(1);
  });
});

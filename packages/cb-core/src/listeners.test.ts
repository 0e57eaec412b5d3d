import { afterEach, describe, expect, it, vi } from 'vitest';
import { captureMicrotaskErrors } from './__tests__/capture-microtask-errors.js';
import { systemClock } from './clock.js';
import { Listeners, toDisposable } from './listeners.js';

describe('Listeners', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('delivers to every listener, removes on dispose, and is idempotent', () => {
    const listeners = new Listeners<number>();
    const seen: string[] = [];
    const a = listeners.add((n) => seen.push(`a${n}`));
    const b = listeners.add((n) => seen.push(`b${n}`));
    listeners.emit(1);
    a.dispose();
    a.dispose();
    listeners.emit(2);
    b[Symbol.dispose]();
    listeners.emit(3);
    expect(seen).toEqual(['a1', 'b1', 'b2']);
    expect(listeners.size).toBe(0);
    expect(() => listeners.add('nope' as never)).toThrow('listener must be a function');
  });

  it('keeps delivering when a listener throws, surfacing the error asynchronously', async () => {
    const listeners = new Listeners<number>();
    const seen: number[] = [];
    listeners.add(() => {
      throw new Error('listener bug');
    });
    listeners.add((n) => seen.push(n));
    const errors = await captureMicrotaskErrors(() => listeners.emit(7));
    expect(seen).toEqual([7]);
    expect(errors).toMatchObject([{ message: 'listener bug' }]);
  });

  it('wraps cleanups as disposables that run once', () => {
    const cleanup = vi.fn();
    const disposable = toDisposable(cleanup);
    disposable.dispose();
    disposable[Symbol.dispose]();
    expect(cleanup).toHaveBeenCalledTimes(1);
  });
});

describe('systemClock', () => {
  it('schedules unref’d timers that can be cleared', async () => {
    const fired = vi.fn();
    const handle = systemClock.setTimeout(fired, 1) as { hasRef(): boolean };
    expect(handle.hasRef()).toBe(false);
    const cleared = systemClock.setTimeout(fired, 1);
    systemClock.clearTimeout(cleared);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fired).toHaveBeenCalledTimes(1);
    expect(Math.abs(systemClock.now() - Date.now())).toBeLessThan(5);
  });
});

import { describe, expect, it } from 'vitest';
import type { Clock, TimerHandle, TimerProvider } from './clock.js';
import { stallThresholdMs, startDeadline, withDeadline } from './deadline.js';

/** Timers that fire only when told, and a clock that says what the test wants: lateness on demand. */
function manualTime() {
  let now = 0;
  let next = 0;
  const timers = new Map<number, { callback: () => void; dueAt: number }>();
  const clock: Clock & TimerProvider = {
    now: () => now,
    setTimeout(callback, delayMs) {
      next += 1;
      timers.set(next, { callback, dueAt: now + delayMs });
      return next;
    },
    clearTimeout(handle: TimerHandle) {
      timers.delete(handle as number);
    },
  };
  return {
    clock,
    pending: () => [...timers.values()].map((timer) => timer.dueAt),
    /** Fires the earliest timer `lateMs` after it was due (a blocked event loop), then lets the loop turn. */
    async fire(lateMs = 0) {
      const [id, timer] = [...timers.entries()].sort((a, b) => a[1].dueAt - b[1].dueAt)[0] ?? [];
      if (id === undefined || timer === undefined) throw new Error('no timer pending');
      timers.delete(id);
      now = timer.dueAt + lateMs;
      timer.callback();
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

describe('startDeadline', () => {
  it('expires when the timer fires on time and the work has not settled after a turn of the loop', async () => {
    const time = manualTime();
    let expired = 0;
    startDeadline({ timeoutMs: 250, ...time, isSettled: () => false, onExpired: () => (expired += 1) });
    expect(time.pending()).toEqual([250]);
    await time.fire(0);
    expect(expired).toBe(1);
    expect(time.pending()).toEqual([]);
  });

  it('does not expire when the reply was read in the turn of the loop after the timer', async () => {
    const time = manualTime();
    let settled = false;
    let expired = 0;
    startDeadline({ timeoutMs: 250, ...time, isSettled: () => settled, onExpired: () => (expired += 1) });
    // The reply sat in the socket while the loop was busy: it is read before the verdict.
    setImmediate(() => {
      settled = true;
    });
    await time.fire(0);
    expect(expired).toBe(0);
  });

  it('a timer that fired late (a stalled loop) is not yet evidence: one more look after the lateness', async () => {
    const time = manualTime();
    let expired = 0;
    startDeadline({ timeoutMs: 250, ...time, isSettled: () => false, onExpired: () => (expired += 1) });
    await time.fire(300); // due at 250, fired at 550
    expect(expired).toBe(0);
    expect(time.pending()).toEqual([550 + 250]); // min(lateness 300, timeout 250)
    await time.fire(300); // late again: no second extension
    expect(expired).toBe(1);
  });

  it('waits min(lateness, timeout) more, and treats lateness below 10 % of the timeout (≥ 10 ms) as noise', async () => {
    expect(stallThresholdMs(250)).toBe(25);
    expect(stallThresholdMs(50)).toBe(10);
    const time = manualTime();
    let expired = 0;
    startDeadline({ timeoutMs: 250, ...time, isSettled: () => false, onExpired: () => (expired += 1) });
    await time.fire(24);
    expect(expired).toBe(1);
    const late = manualTime();
    startDeadline({ timeoutMs: 250, ...late, isSettled: () => false, onExpired: () => (expired += 1) });
    await late.fire(40);
    expect(late.pending()).toEqual([290 + 40]);
  });

  it('never expires after cancel()', async () => {
    const time = manualTime();
    let expired = 0;
    const deadline = startDeadline({
      timeoutMs: 250,
      ...time,
      isSettled: () => false,
      onExpired: () => (expired += 1),
    });
    deadline.cancel();
    expect(time.pending()).toEqual([]);
    expect(expired).toBe(0);
  });
});

describe('withDeadline', () => {
  it('settles like the promise, or rejects with the given error when the deadline expires', async () => {
    const time = manualTime();
    await expect(withDeadline(Promise.resolve(7), 100, time, () => new Error('late'))).resolves.toBe(7);
    const never = new Promise<never>(() => {});
    const raced = withDeadline(never, 100, time, () => new Error('late')).catch((error: Error) => error);
    await time.fire(0);
    expect(await raced).toMatchObject({ message: 'late' });
  });
});

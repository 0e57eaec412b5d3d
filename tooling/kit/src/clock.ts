/** Where time comes from. Inject one to control time in tests. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /**
   * Milliseconds (with a fraction) from an arbitrary origin that never steps back, for measuring
   * durations. Absent: durations are measured with {@link Clock.now}.
   */
  monotonic?(): number;
}

/** An opaque handle of a scheduled timer. */
export type TimerHandle = unknown;

/** Schedules callbacks. Implementations should not keep the process alive (`unref`). */
export interface TimerProvider {
  /** Runs `callback` once after `delayMs`; returns a handle for {@link TimerProvider.clearTimeout}. */
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  /** Cancels a timer; a handle that already fired or was cleared is ignored. */
  clearTimeout(handle: TimerHandle): void;
}

function unref(handle: unknown): void {
  if (typeof handle === 'object' && handle !== null && 'unref' in handle) {
    (handle as { unref(): void }).unref();
  }
}

/**
 * The real clock and timers: `now` is `Date.now()`, `monotonic` is `performance.now()`, and timers
 * are unref'd so that nothing of ours holds a process open. Frozen.
 */
export const systemClock: Clock & TimerProvider = Object.freeze({
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (callback: () => void, delayMs: number): TimerHandle => {
    const handle = globalThis.setTimeout(callback, delayMs);
    unref(handle);
    return handle;
  },
  clearTimeout: (handle: TimerHandle): void => {
    globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]);
  },
});

/**
 * Milliseconds on the clock's duration scale: its `monotonic()` when it has one, else `now()`.
 * Subtract two readings for a duration; never compare a reading with an epoch time.
 */
export function monotonicNow(clock: Clock): number {
  return clock.monotonic === undefined ? clock.now() : clock.monotonic();
}

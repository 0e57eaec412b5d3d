/** Where time comes from. Inject one to control time in tests. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /**
   * Milliseconds (with a fraction) from an arbitrary origin that never steps back, for measuring
   * durations. Absent: durations are measured with {@link now}.
   */
  monotonic?(): number;
}

/** An opaque handle of a scheduled timer. */
export type TimerHandle = unknown;

/** Schedules callbacks. Implementations should not keep the process alive (`unref`). */
export interface TimerProvider {
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

function unref(handle: unknown): void {
  if (typeof handle === 'object' && handle !== null && 'unref' in handle) {
    (handle as { unref(): void }).unref();
  }
}

/** The real clock and timers; timers are unref'd so a breaker never holds a process open. */
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

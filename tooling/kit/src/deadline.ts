import { type Clock, monotonicNow, type TimerHandle, type TimerProvider } from './clock.js';

/** Where deadlines get their time and timers from: the manager's `clock` option. */
export interface Timing {
  readonly clock: Clock & TimerProvider;
}

/**
 * How late a timer may fire before its lateness counts as a stalled event loop rather than
 * scheduling noise: 10 % of the timeout, at least 10 ms.
 */
export function stallThresholdMs(timeoutMs: number): number {
  return Math.max(10, timeoutMs * 0.1);
}

/**
 * Runs `callback` once the event loop has polled I/O, so that replies that arrived while the loop
 * was blocked are read first. The one call in this package that bypasses the injected
 * {@link TimerProvider}, on purpose: it is not a delay but a position in the event loop (the check
 * phase, after the poll phase), which no timer, fake or real, stands in for.
 */
export function yieldToEventLoop(callback: () => void): void {
  setImmediate(callback);
}

/** What {@link startDeadline} needs. */
export interface DeadlineOptions extends Timing {
  readonly timeoutMs: number;
  /** True once the awaited work settled; asked only after the event loop has polled I/O. */
  isSettled(): boolean;
  /** Called at most once, when the work did not settle in time; never after `cancel()`. */
  onExpired(): void;
}

/** A pending deadline. */
export interface Deadline {
  cancel(): void;
}

/**
 * A timeout that a blocked event loop does not turn into a false alarm.
 *
 * When the timer fires, the reply may already sit unread in the socket (the loop was busy, not
 * Redis): it first yields to the event loop once and re-checks. And a timer that fired much later
 * than scheduled (see {@link stallThresholdMs}) is not yet evidence: the work gets one more look
 * after `min(lateness, timeoutMs)`, time in which a write that the stall held back can be answered.
 * So the work waits at most `timeoutMs + 2 × lateness` (lateness at most the stall) before
 * `onExpired`.
 */
export function startDeadline(options: DeadlineOptions): Deadline {
  const { timeoutMs, clock } = options;
  let handle: TimerHandle | undefined;
  let active = true;
  let extended = false;
  const arm = (delayMs: number): void => {
    const dueAt = monotonicNow(clock) + delayMs;
    handle = clock.setTimeout(() => {
      handle = undefined;
      const lateMs = monotonicNow(clock) - dueAt;
      yieldToEventLoop(() => {
        if (!active || options.isSettled()) return;
        if (!extended && lateMs >= stallThresholdMs(timeoutMs)) {
          extended = true;
          arm(Math.min(lateMs, timeoutMs));
          return;
        }
        active = false;
        options.onExpired();
      });
    }, delayMs);
  };
  arm(timeoutMs);
  return {
    cancel() {
      active = false;
      if (handle !== undefined) clock.clearTimeout(handle);
      handle = undefined;
    },
  };
}

/**
 * Settles like `promise`, or rejects with `makeError()` when the stall-aware deadline of
 * {@link startDeadline} expires first.
 */
export function withDeadline<T>(
  promise: Promise<T>,
  timeoutMs: number,
  timing: Timing,
  makeError: () => Error,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const deadline = startDeadline({
      timeoutMs,
      clock: timing.clock,
      isSettled: () => settled,
      onExpired: () => {
        settled = true;
        reject(makeError());
      },
    });
    promise.then(
      (value) => {
        if (settled) return;
        settled = true;
        deadline.cancel();
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        deadline.cancel();
        reject(error);
      },
    );
  });
}

/** Resolves after `delayMs`, or at once when the returned `cancel` is called. */
export function cancellableSleep(
  timers: TimerProvider,
  delayMs: number,
): { done: Promise<void>; cancel(): void } {
  let cancel: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    const handle = timers.setTimeout(resolve, delayMs);
    cancel = () => {
      timers.clearTimeout(handle);
      resolve();
    };
  });
  return { done, cancel };
}

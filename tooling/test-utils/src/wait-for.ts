/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** How long to keep checking before rejecting. @default 5000 */
  timeoutMs?: number;
  /** Pause between two checks. @default 10 */
  intervalMs?: number;
  /** Describes the awaited condition in the timeout message. */
  message?: string;
}

/**
 * Polls `condition` until it returns (or resolves to) a truthy value and resolves with that value.
 * Use it instead of fixed sleeps: the test goes on as soon as the condition holds.
 *
 * @throws Error when the condition is still false after `timeoutMs`; the message carries the last
 * error thrown by the condition, if any.
 * @example
 * await waitFor(() => manager.fallbackMode, { timeoutMs: 1000 });
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 10;
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() >= deadline) {
      const what = options.message ?? 'condition';
      const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`waitFor: ${what} not met within ${timeoutMs} ms${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Resolves after `ms` milliseconds. Only for pacing load generators, never to wait for a condition. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

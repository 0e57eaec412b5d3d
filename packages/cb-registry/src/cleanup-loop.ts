import { assertFunction, assertInteger, type Clock, systemClock, type TimerProvider } from '@xnai/cb-core';
import { type Loop, startLoop } from './loop.js';
import type { CircuitBreakerRegistry } from './registry.js';

/** Options of {@link startCleanupLoop}. */
export interface CleanupLoopOptions {
  /**
   * Time between two cleanups (the seed's hourly `cleanup_loop`).
   * @default 3_600_000
   */
  readonly intervalMs?: number;
  /**
   * Called after each cleanup with the number of in-memory states removed.
   * @default none
   */
  readonly onCleanup?: (removed: number) => void;
  /** @default systemClock */
  readonly clock?: Clock & TimerProvider;
}

/**
 * The seed's `cleanup_loop`: removes expired in-memory states at once, then every `intervalMs`
 * (Redis expires its keys by itself). The timer is unref'd; the loop stops on `stop()` or on `registry.cleanup()`.
 * @throws {RangeError} `intervalMs` is not a positive integer.
 * @example
 * ```ts
 * const loop = startCleanupLoop(registry, { intervalMs: 3_600_000 });
 * ```
 */
export function startCleanupLoop(registry: CircuitBreakerRegistry, options: CleanupLoopOptions = {}): Loop {
  const intervalMs = assertInteger('intervalMs', options.intervalMs ?? 3_600_000, 1);
  const onCleanup =
    options.onCleanup === undefined
      ? undefined
      : assertFunction<(removed: number) => void>('onCleanup', options.onCleanup);
  return startLoop(
    registry,
    intervalMs,
    options.clock ?? systemClock,
    () => {
      const removed = registry.stateManager.cleanupExpiredStates();
      onCleanup?.(removed);
    },
    // At start, then every interval, as the seed's loop does.
    true,
  );
}

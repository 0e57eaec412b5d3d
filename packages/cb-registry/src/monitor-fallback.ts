import { assertFunction, assertInteger, type Clock, systemClock, type TimerProvider } from '@xnai/cb-core';
import { type Loop, startLoop } from './loop.js';
import type { CircuitBreakerRegistry, RegistryStatus } from './registry.js';

/** What {@link monitorFallback} reports on each check. */
export type FallbackAlert =
  /** Redis is unavailable: circuits run on the in-memory fallback. */
  | {
      readonly kind: 'redis_unavailable';
      readonly fallbackStatesCount: number;
      readonly status: RegistryStatus;
    }
  /** Redis is back, but some circuits are not reconciled yet. */
  | {
      readonly kind: 'fallback_pending';
      readonly fallbackStatesCount: number;
      readonly status: RegistryStatus;
    }
  /** Redis connected, nothing held only in memory. */
  | { readonly kind: 'healthy'; readonly fallbackStatesCount: 0; readonly status: RegistryStatus };

/** Options of {@link monitorFallback}. */
export interface MonitorFallbackOptions {
  /**
   * Time between two checks (the seed's `check_interval`, 60 s).
   * @default 60_000
   */
  readonly intervalMs?: number;
  /** Called with each check's result (alert your operators on anything but `healthy`). */
  readonly onAlert: (alert: FallbackAlert) => void;
  /** @default systemClock */
  readonly clock?: Clock & TimerProvider;
}

/**
 * The seed's `monitor_fallback_status`: checks the registry status every `intervalMs` and reports
 * `redis_unavailable`, `fallback_pending` or `healthy`. The timer is unref'd; the loop stops on
 * `stop()` or on `registry.cleanup()`.
 * @throws {TypeError | RangeError} an option is invalid.
 * @example
 * ```ts
 * monitorFallback(registry, { intervalMs: 60_000, onAlert: (alert) => alert.kind !== 'healthy' && page(alert) });
 * ```
 */
export function monitorFallback(registry: CircuitBreakerRegistry, options: MonitorFallbackOptions): Loop {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  const intervalMs = assertInteger('intervalMs', options.intervalMs ?? 60_000, 1);
  const onAlert = assertFunction<(alert: FallbackAlert) => void>('onAlert', options.onAlert);
  return startLoop(
    registry,
    intervalMs,
    options.clock ?? systemClock,
    async () => {
      if (registry.closed) return;
      const status = await registry.getRegistryStatus();
      const count = status.fallbackStatus.fallbackStatesCount;
      if (status.redisStatus !== null && !status.redisStatus.connected)
        onAlert({ kind: 'redis_unavailable', fallbackStatesCount: count, status });
      else if (count > 0) onAlert({ kind: 'fallback_pending', fallbackStatesCount: count, status });
      else onAlert({ kind: 'healthy', fallbackStatesCount: 0, status });
    },
    true,
  );
}

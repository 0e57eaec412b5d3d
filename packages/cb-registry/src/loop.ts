import type { Clock, Disposable, TimerHandle, TimerProvider } from '@xnai/cb-core';
import type { CircuitBreakerRegistry } from './registry.js';

/** A background loop started by a helper; stops by itself when the registry is cleaned up. */
export interface Loop extends Disposable {
  /** Stops the loop. Idempotent; `dispose()` and `[Symbol.dispose]()` do the same. */
  stop(): void;
}

/** Runs `tick` every `intervalMs` (after each run), on unref'd timers, until stopped or cleanup. */
export function startLoop(
  registry: CircuitBreakerRegistry,
  intervalMs: number,
  clock: Clock & TimerProvider,
  tick: () => Promise<void> | void,
  runAtOnce: boolean,
): Loop {
  let timer: TimerHandle | null = null;
  let stopped = false;
  const schedule = (delayMs: number): void => {
    if (stopped) return;
    timer = clock.setTimeout(() => {
      timer = null;
      Promise.resolve()
        .then(tick)
        .catch(() => undefined)
        .finally(() => schedule(intervalMs));
    }, delayMs);
  };
  const cleanup = registry.onCleanup(() => stop());
  function stop(): void {
    if (stopped) return;
    stopped = true;
    if (timer !== null) clock.clearTimeout(timer);
    timer = null;
    cleanup.dispose();
  }
  schedule(runAtOnce ? 0 : intervalMs);
  return { stop, dispose: stop, [Symbol.dispose]: stop };
}

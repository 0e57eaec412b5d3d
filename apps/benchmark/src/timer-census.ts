/**
 * Counts live timers, including unref'd ones: `process.getActiveResourcesInfo()` lists only timers
 * that keep the event loop alive, and every library here unrefs its background timers. While
 * installed, the global setTimeout/setInterval are wrapped; a timer is live from creation until it
 * fires (setTimeout) or is cleared.
 */
export interface TimerCensus {
  readonly live: number;
  uninstall(): void;
}

type AnyFunction = (...args: never[]) => unknown;

export function installTimerCensus(): TimerCensus {
  const live = new Set<unknown>();
  const original = {
    setTimeout: globalThis.setTimeout,
    setInterval: globalThis.setInterval,
    clearTimeout: globalThis.clearTimeout,
    clearInterval: globalThis.clearInterval,
  };
  const patched = globalThis as unknown as Record<string, AnyFunction>;
  patched.setTimeout = ((callback: (...args: unknown[]) => void, delay?: number, ...args: unknown[]) => {
    const handle = original.setTimeout(
      (...callbackArgs: unknown[]) => {
        live.delete(handle);
        callback(...callbackArgs);
      },
      delay,
      ...args,
    );
    live.add(handle);
    return handle;
  }) as AnyFunction;
  patched.setInterval = ((callback: (...args: unknown[]) => void, delay?: number, ...args: unknown[]) => {
    const handle = original.setInterval(callback, delay, ...args);
    live.add(handle);
    return handle;
  }) as AnyFunction;
  patched.clearTimeout = ((handle: Parameters<typeof clearTimeout>[0]) => {
    live.delete(handle);
    original.clearTimeout(handle);
  }) as AnyFunction;
  patched.clearInterval = ((handle: Parameters<typeof clearInterval>[0]) => {
    live.delete(handle);
    original.clearInterval(handle);
  }) as AnyFunction;
  return {
    get live() {
      return live.size;
    },
    uninstall() {
      Object.assign(globalThis, original);
    },
  };
}

/** Timers that keep the event loop alive, as Node reports them. */
export function refedTimeouts(): number {
  return process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length;
}

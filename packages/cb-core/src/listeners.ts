import type { Disposable } from './store.js';

/** Wraps a cleanup function as a {@link Disposable}; disposing twice is harmless. */
export function toDisposable(cleanup: () => void): Disposable {
  let done = false;
  const dispose = (): void => {
    if (done) return;
    done = true;
    cleanup();
  };
  return { dispose, [Symbol.dispose]: dispose };
}

/**
 * A typed list of listeners. A listener that throws does not stop the others; its error is rethrown
 * in a microtask, where it surfaces like any uncaught error instead of breaking the caller's call.
 */
export class Listeners<T> {
  #listeners: Array<(event: T) => void> | null = null;

  get size(): number {
    return this.#listeners?.length ?? 0;
  }

  add(listener: (event: T) => void): Disposable {
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    if (this.#listeners === null) this.#listeners = [listener];
    else this.#listeners.push(listener);
    return toDisposable(() => {
      const list = this.#listeners;
      if (list === null) return;
      const index = list.indexOf(listener);
      if (index >= 0) list.splice(index, 1);
      if (list.length === 0) this.#listeners = null;
    });
  }

  emit(event: T): void {
    const list = this.#listeners;
    if (list === null) return;
    for (const listener of list.length === 1 ? list : [...list]) {
      try {
        listener(event);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  clear(): void {
    this.#listeners = null;
  }
}

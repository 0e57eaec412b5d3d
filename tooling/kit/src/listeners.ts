import { type Disposable, toDisposable } from './disposable.js';
import { describeValue } from './validation.js';

/**
 * A typed list of listeners: one policy for every event of every package.
 *
 * A listener that throws never stops the emitter or the other listeners: each listener runs in turn,
 * and what one throws is rethrown in a microtask, where it surfaces like any uncaught error (Node's
 * `uncaughtException`, a browser's `error` event) instead of breaking the emitter's work. That is
 * what `EventTarget` does with a throwing listener. A listener that must not crash the process
 * catches its own errors.
 *
 * One listener is kept as is and the list grows only for two or more, so an emitter nobody listens
 * to costs one field.
 */
export class Listeners<T> {
  #listeners: Array<(event: T) => void> | null = null;

  /** Listeners currently added. */
  get size(): number {
    return this.#listeners?.length ?? 0;
  }

  /**
   * Adds a listener; the returned disposable removes it. Adding one function twice makes two
   * subscriptions.
   * @throws {TypeError} `listener` is not a function.
   */
  add(listener: (event: T) => void): Disposable {
    if (typeof listener !== 'function') {
      throw new TypeError(`listener must be a function, got ${describeValue(listener)}`);
    }
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

  /** Delivers `event` to every listener, in the order they were added (see the class for errors). */
  emit(event: T): void {
    const list = this.#listeners;
    if (list === null) return;
    for (const listener of list.length === 1 ? list : [...list]) {
      try {
        listener(event);
      } catch (error) {
        rethrowLater(error);
      }
    }
  }

  /** Removes every listener. */
  clear(): void {
    this.#listeners = null;
  }
}

/**
 * Rethrows `error` in a microtask: the policy for what a listener threw, for emitters that keep
 * their listeners in their own structure rather than in {@link Listeners}.
 */
export function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

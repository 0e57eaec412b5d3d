import type { Disposable } from './disposable.js';
import { describeValue } from './validation.js';

type Listener<T> = (event: T) => void;

/**
 * What {@link Listeners.add} returns: one small object (no closures), since emitters such as a
 * registry's breakers hold one per circuit for life. Disposing twice removes the listener once.
 */
class ListenerSubscription<T> implements Disposable {
  #owner: Listeners<T> | null;
  readonly #listener: Listener<T>;

  constructor(owner: Listeners<T>, listener: Listener<T>) {
    this.#owner = owner;
    this.#listener = listener;
  }

  dispose(): void {
    const owner = this.#owner;
    if (owner === null) return;
    this.#owner = null;
    owner.remove(this.#listener);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * A typed list of listeners: one policy for every event of every package.
 *
 * A listener that throws never stops the emitter or the other listeners: each listener runs in turn,
 * and what one throws is rethrown in a microtask, where it surfaces like any uncaught error (Node's
 * `uncaughtException`, a browser's `error` event) instead of breaking the emitter's work. That is
 * what `EventTarget` does with a throwing listener. A listener that must not crash the process
 * catches its own errors.
 *
 * One listener is kept as is and a list is made only for two or more, so an emitter nobody listens
 * to costs one field and one with a single listener no array.
 */
export class Listeners<T> {
  #listeners: Listener<T> | Array<Listener<T>> | null = null;

  /** Listeners currently added. */
  get size(): number {
    const listeners = this.#listeners;
    if (listeners === null) return 0;
    return typeof listeners === 'function' ? 1 : listeners.length;
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
    const listeners = this.#listeners;
    if (listeners === null) this.#listeners = listener;
    else if (typeof listeners === 'function') this.#listeners = [listeners, listener];
    else listeners.push(listener);
    return new ListenerSubscription(this, listener);
  }

  /** @internal Removes one subscription of `listener` (used by the subscription's `dispose()`). */
  remove(listener: (event: T) => void): void {
    const listeners = this.#listeners;
    if (listeners === null) return;
    if (typeof listeners === 'function') {
      if (listeners === listener) this.#listeners = null;
      return;
    }
    const index = listeners.indexOf(listener);
    if (index >= 0) listeners.splice(index, 1);
    if (listeners.length === 1) this.#listeners = listeners[0] as Listener<T>;
    else if (listeners.length === 0) this.#listeners = null;
  }

  /** Delivers `event` to every listener, in the order they were added (see the class for errors). */
  emit(event: T): void {
    const listeners = this.#listeners;
    if (listeners === null) return;
    if (typeof listeners === 'function') {
      deliver(listeners, event);
      return;
    }
    for (const listener of [...listeners]) deliver(listener, event);
  }

  /** Removes every listener. */
  clear(): void {
    this.#listeners = null;
  }
}

function deliver<T>(listener: Listener<T>, event: T): void {
  try {
    listener(event);
  } catch (error) {
    rethrowLater(error);
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

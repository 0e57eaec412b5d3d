import { assertFunction, Listeners, rethrowLater } from '@xnai/kit';
import { validateCircuitName } from './circuit-name.js';
import type { CircuitStateChange, Disposable, SubscribeOptions } from './store.js';

type ChangeListener = (change: CircuitStateChange) => void;

/** One subscription for one circuit: a single small object, since a breaker holds one for life. */
class NamedSubscription implements Disposable {
  #owner: ChangeListeners | null;
  readonly #name: string;
  readonly #listener: ChangeListener;

  constructor(owner: ChangeListeners, name: string, listener: ChangeListener) {
    this.#owner = owner;
    this.#name = name;
    this.#listener = listener;
  }

  dispose(): void {
    const owner = this.#owner;
    if (owner === null) return;
    this.#owner = null;
    owner.remove(this.#name, this.#listener);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * The listeners of a store's `subscribe()`: per circuit name, plus those for every circuit. Shared by
 * the store implementations so that each delivers changes the same way. A circuit usually has one
 * listener (its breaker), kept as is rather than in a list, so idle breakers stay small.
 */
export class ChangeListeners {
  readonly #byName = new Map<string, ChangeListener | ChangeListener[]>();
  readonly #all = new Listeners<CircuitStateChange>();

  /**
   * Adds a listener for one circuit (`options.name`) or for all.
   * @throws {InvalidCircuitNameError} `options.name` is not a valid circuit name.
   */
  subscribe(listener: ChangeListener, options: SubscribeOptions = {}): Disposable {
    if (options.name === undefined) return this.#all.add(listener);
    assertFunction('listener', listener);
    const name = validateCircuitName(options.name);
    const existing = this.#byName.get(name);
    if (existing === undefined) this.#byName.set(name, listener);
    else if (typeof existing === 'function') this.#byName.set(name, [existing, listener]);
    else existing.push(listener);
    return new NamedSubscription(this, name, listener);
  }

  /** @internal Removes one listener of `name` (used by the subscription's `dispose()`). */
  remove(name: string, listener: ChangeListener): void {
    const existing = this.#byName.get(name);
    if (existing === undefined) return;
    if (typeof existing === 'function') {
      if (existing === listener) this.#byName.delete(name);
      return;
    }
    const index = existing.indexOf(listener);
    if (index >= 0) existing.splice(index, 1);
    if (existing.length === 1) this.#byName.set(name, existing[0] as ChangeListener);
    else if (existing.length === 0) this.#byName.delete(name);
  }

  /** Delivers a change to the circuit's listeners, then to those of every circuit. */
  emit(change: CircuitStateChange): void {
    const named = this.#byName.get(change.name);
    if (named !== undefined) {
      if (typeof named === 'function') deliver(named, change);
      else for (const listener of [...named]) deliver(listener, change);
    }
    this.#all.emit(change);
  }

  /** Names of the circuits that have listeners of their own. */
  names(): string[] {
    return [...this.#byName.keys()];
  }

  /** Removes every listener. */
  clear(): void {
    this.#byName.clear();
    this.#all.clear();
  }
}

/** The {@link Listeners} policy: a listener that throws does not stop the others; its error is rethrown in a microtask. */
function deliver(listener: ChangeListener, change: CircuitStateChange): void {
  try {
    listener(change);
  } catch (error) {
    rethrowLater(error);
  }
}

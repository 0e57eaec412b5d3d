import { assertFunction, Listeners, rethrowLater } from '@xnai/kit';
import { validateCircuitName } from './circuit-name.js';
import type { ChangeReceiver, CircuitStateChange, Disposable, SubscribeOptions } from './store.js';

type ChangeListener = (change: CircuitStateChange) => void;
/** What a circuit's entry holds: a listener function (subscribe) or a receiver (watch). */
type Delivery = ChangeListener | ChangeReceiver;

/** One subscription for one circuit: a single small object, since a breaker holds one for life. */
class NamedSubscription implements Disposable {
  #owner: ChangeListeners | null;
  readonly #name: string;
  readonly #listener: Delivery;

  constructor(owner: ChangeListeners, name: string, listener: Delivery) {
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
 * listener (its breaker's view, watching), kept as is rather than in a list, so idle breakers stay
 * small.
 */
export class ChangeListeners {
  readonly #byName = new Map<string, Delivery | Delivery[]>();
  readonly #all = new Listeners<CircuitStateChange>();

  /**
   * Adds a listener for one circuit (`options.name`) or for all.
   * @throws {InvalidCircuitNameError} `options.name` is not a valid circuit name.
   */
  subscribe(listener: ChangeListener, options: SubscribeOptions = {}): Disposable {
    if (options.name === undefined) return this.#all.add(listener);
    assertFunction('listener', listener);
    const name = validateCircuitName(options.name);
    this.#add(name, listener);
    return new NamedSubscription(this, name, listener);
  }

  /**
   * Delivers the changes of `name` to `receiver.receiveChange` until {@link unwatch} (a store's
   * `watch`): no subscription object is made.
   * @throws {InvalidCircuitNameError} `name` is not a valid circuit name.
   * @throws {TypeError} `receiver` has no `receiveChange` method.
   */
  watch(name: string, receiver: ChangeReceiver): void {
    if (typeof receiver !== 'object' || receiver === null || typeof receiver.receiveChange !== 'function') {
      throw new TypeError('receiver must be an object with a receiveChange method');
    }
    this.#add(validateCircuitName(name), receiver);
  }

  /** Stops delivering `name`'s changes to `receiver` (one watch of it). */
  unwatch(name: string, receiver: ChangeReceiver): void {
    this.remove(name, receiver);
  }

  #add(name: string, delivery: Delivery): void {
    const existing = this.#byName.get(name);
    if (existing === undefined) this.#byName.set(name, delivery);
    else if (!Array.isArray(existing)) this.#byName.set(name, [existing, delivery]);
    else existing.push(delivery);
  }

  /** @internal Removes one listener of `name` (used by the subscription's `dispose()`). */
  remove(name: string, listener: Delivery): void {
    const existing = this.#byName.get(name);
    if (existing === undefined) return;
    if (!Array.isArray(existing)) {
      if (existing === listener) this.#byName.delete(name);
      return;
    }
    const index = existing.indexOf(listener);
    if (index >= 0) existing.splice(index, 1);
    if (existing.length === 1) this.#byName.set(name, existing[0] as Delivery);
    else if (existing.length === 0) this.#byName.delete(name);
  }

  /** Delivers a change to the circuit's listeners, then to those of every circuit. */
  emit(change: CircuitStateChange): void {
    const named = this.#byName.get(change.name);
    if (named !== undefined) {
      if (!Array.isArray(named)) deliver(named, change);
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
function deliver(listener: Delivery, change: CircuitStateChange): void {
  try {
    if (typeof listener === 'function') listener(change);
    else listener.receiveChange(change);
  } catch (error) {
    rethrowLater(error);
  }
}

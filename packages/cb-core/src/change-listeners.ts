import { validateCircuitName } from './circuit-name.js';
import { Listeners } from './listeners.js';
import type { CircuitStateChange, Disposable, SubscribeOptions } from './store.js';

/**
 * The listeners of a store's `subscribe()`: per circuit name, plus those for every circuit. Shared by
 * the store implementations so that each delivers changes the same way.
 */
export class ChangeListeners {
  readonly #byName = new Map<string, Listeners<CircuitStateChange>>();
  readonly #all = new Listeners<CircuitStateChange>();

  /**
   * Adds a listener for one circuit (`options.name`) or for all.
   * @throws {InvalidCircuitNameError} `options.name` is not a valid circuit name.
   */
  subscribe(listener: (change: CircuitStateChange) => void, options: SubscribeOptions = {}): Disposable {
    if (options.name === undefined) return this.#all.add(listener);
    const name = validateCircuitName(options.name);
    let listeners = this.#byName.get(name);
    if (listeners === undefined) {
      listeners = new Listeners();
      this.#byName.set(name, listeners);
    }
    const registered = listeners;
    const subscription = registered.add(listener);
    return {
      dispose: () => {
        subscription.dispose();
        if (registered.size === 0 && this.#byName.get(name) === registered) this.#byName.delete(name);
      },
      [Symbol.dispose]() {
        this.dispose();
      },
    };
  }

  /** Delivers a change to the circuit's listeners, then to those of every circuit. */
  emit(change: CircuitStateChange): void {
    this.#byName.get(change.name)?.emit(change);
    this.#all.emit(change);
  }

  /** Names of the circuits that have listeners of their own. */
  names(): string[] {
    return [...this.#byName.keys()];
  }

  clear(): void {
    this.#byName.clear();
    this.#all.clear();
  }
}

/** A set of typed listeners; one throwing listener never stops the others. */
export class ListenerSet<T> {
  readonly #listeners = new Set<(event: T) => void>();
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void) {
    this.#onListenerError = onListenerError;
  }

  add(listener: (event: T) => void): Disposable {
    if (typeof listener !== 'function') {
      throw new TypeError(`listener must be a function, got ${listener === null ? 'null' : typeof listener}`);
    }
    // Wrap so that adding the same function twice yields two independent subscriptions.
    const entry = (event: T) => listener(event);
    this.#listeners.add(entry);
    return {
      [Symbol.dispose]: () => {
        this.#listeners.delete(entry);
      },
    };
  }

  emit(event: T): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }

  get size(): number {
    return this.#listeners.size;
  }

  clear(): void {
    this.#listeners.clear();
  }
}

/**
 * A resource released by calling `dispose()`; also usable with `using`, since `[Symbol.dispose]()`
 * does the same. Disposing twice is harmless.
 */
export interface Disposable {
  /** Releases the resource. */
  dispose(): void;
  /** Same as {@link Disposable.dispose}; lets `using` own it. */
  [Symbol.dispose](): void;
}

/** Wraps a cleanup function as a {@link Disposable}; disposing twice runs it once. */
export function toDisposable(cleanup: () => void): Disposable {
  let done = false;
  const dispose = (): void => {
    if (done) return;
    done = true;
    cleanup();
  };
  return { dispose, [Symbol.dispose]: dispose };
}

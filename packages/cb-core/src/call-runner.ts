import type { TimerHandle, TimerProvider } from '@xnai/kit';
import { CallTimeoutError } from './errors/call-timeout-error.js';

/** Something to do when a signal aborts, with the reason. */
export type AbortHook = (reason: unknown) => void;

/**
 * The calls in flight under one breaker-wide signal (a registry's cleanup signal, a service's
 * shutdown signal), however many breakers share it. A call is counted from the moment it is asked
 * until it settles, which costs an increment and a decrement; the signal gets **one** abort listener
 * for its whole life. Only what must react to an abort at once joins the group's hook `Set`: a call
 * waiting for the store, and a call under a timeout (which has an AbortController of its own
 * anyway). Nothing stays on the long-lived signal per call, unlike `AbortSignal.any`, whose
 * bookkeeping does (nodejs/node#55351).
 *
 * A registry waits on {@link whenIdle} to let its calls drain before it closes.
 */
export class CallGroup {
  static readonly #groups = new WeakMap<AbortSignal, CallGroup>();
  /** The breaker-wide signal. */
  readonly signal: AbortSignal;
  readonly #hooks = new Set<AbortHook>();
  #inFlight = 0;
  #idle: Array<() => void> | null = null;

  private constructor(signal: AbortSignal) {
    this.signal = signal;
    signal.addEventListener(
      'abort',
      () => {
        for (const hook of [...this.#hooks]) hook(signal.reason);
      },
      { once: true },
    );
  }

  /** The group of `signal`, created (with its one listener) on first use. */
  static of(signal: AbortSignal): CallGroup {
    let group = CallGroup.#groups.get(signal);
    if (group === undefined) {
      group = new CallGroup(signal);
      CallGroup.#groups.set(signal, group);
    }
    return group;
  }

  /** A call started. */
  enter(): void {
    this.#inFlight += 1;
  }

  /** A call settled. */
  leave(): void {
    this.#inFlight -= 1;
    if (this.#inFlight > 0 || this.#idle === null) return;
    const waiting = this.#idle;
    this.#idle = null;
    for (const resolve of waiting) resolve();
  }

  /** Calls `hook` with the reason if the signal aborts before {@link delete}. */
  add(hook: AbortHook): void {
    this.#hooks.add(hook);
  }

  delete(hook: AbortHook): void {
    this.#hooks.delete(hook);
  }

  /** Calls in flight in the group, across every breaker sharing the signal. */
  get size(): number {
    return this.#inFlight;
  }

  /** Hooks registered now (calls waiting for the store or under a timeout); for tests. */
  get hooks(): number {
    return this.#hooks.size;
  }

  /** Resolves once no call is in flight in the group. */
  whenIdle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      if (this.#idle === null) this.#idle = [resolve];
      else this.#idle.push(resolve);
    });
  }
}

/** The signal every call gets when nothing can abort it. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/** How a guarded call ended. */
export type GuardedEnd<T> =
  | { readonly kind: 'value'; readonly value: T }
  | { readonly kind: 'error'; readonly error: unknown }
  /** A signal aborted first: the caller gets `reason`, the outcome counts for nothing. */
  | { readonly kind: 'aborted'; readonly reason: unknown }
  | { readonly kind: 'timeout'; readonly error: CallTimeoutError };

/**
 * A call under `callTimeoutMs`: `fn` gets a signal of its own, aborted by the timeout, by the call's
 * signal or by the breaker-wide one, and the call settles at the first of those or `fn` settling.
 * Whatever loses the race is dropped: the listener and the group hook are removed and the timer
 * cleared, so nothing of the call outlives it. The call's signal gets one listener while `fn` runs
 * (it is the call's own, so nothing accumulates on a long-lived signal).
 */
export class TimedCall<T> {
  readonly #controller = new AbortController();
  readonly #signal: AbortSignal | undefined;
  readonly #group: CallGroup | null;
  readonly #timers: TimerProvider;
  readonly #resolve: (end: GuardedEnd<T>) => void;
  #timer: TimerHandle | null = null;
  #done = false;
  readonly #onAbort: AbortHook = (reason) => {
    if (this.#finish({ kind: 'aborted', reason })) this.#controller.abort(reason);
  };
  readonly #onSignalAbort = (): void => this.#onAbort(this.#signal?.reason);

  private constructor(
    signal: AbortSignal | undefined,
    group: CallGroup | null,
    timers: TimerProvider,
    resolve: (end: GuardedEnd<T>) => void,
  ) {
    this.#signal = signal;
    this.#group = group;
    this.#timers = timers;
    this.#resolve = resolve;
  }

  /** Runs `fn` under a timeout of `timeoutMs` and tells how it ended. Never rejects. */
  static run<T>(
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    signal: AbortSignal | undefined,
    group: CallGroup | null,
    timeoutMs: number,
    timers: TimerProvider,
    circuit: string,
  ): Promise<GuardedEnd<Awaited<T>>> {
    return new Promise((resolve) => {
      new TimedCall<Awaited<T>>(signal, group, timers, resolve).#start(
        fn as (signal: AbortSignal) => Awaited<T> | PromiseLike<Awaited<T>>,
        timeoutMs,
        circuit,
      );
    });
  }

  #start(fn: (signal: AbortSignal) => T | PromiseLike<T>, timeoutMs: number, circuit: string): void {
    const signal = this.#signal;
    if (signal?.aborted === true) {
      this.#onAbort(signal.reason);
      return;
    }
    if (this.#group?.signal.aborted === true) {
      this.#onAbort(this.#group.signal.reason);
      return;
    }
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = null;
      const error = new CallTimeoutError(circuit, timeoutMs);
      if (this.#finish({ kind: 'timeout', error })) this.#controller.abort(error);
    }, timeoutMs);
    signal?.addEventListener('abort', this.#onSignalAbort, { once: true });
    this.#group?.add(this.#onAbort);
    let result: T | PromiseLike<T>;
    try {
      result = fn(this.#controller.signal);
    } catch (error) {
      this.#finish({ kind: 'error', error });
      return;
    }
    if (!isThenable(result)) {
      this.#finish({ kind: 'value', value: result as T });
      return;
    }
    result.then(
      (value) => {
        this.#finish({ kind: 'value', value });
      },
      (error: unknown) => {
        this.#finish({ kind: 'error', error });
      },
    );
  }

  #finish(end: GuardedEnd<T>): boolean {
    if (this.#done) return false;
    this.#done = true;
    if (this.#timer !== null) this.#timers.clearTimeout(this.#timer);
    this.#timer = null;
    this.#signal?.removeEventListener('abort', this.#onSignalAbort);
    this.#group?.delete(this.#onAbort);
    this.#resolve(end);
    return true;
  }
}

/** Thrown (internally) when a wait for the store was cut short by an abort. */
export class WaitAborted {
  constructor(readonly reason: unknown) {}
}

/**
 * Waits for `work` (a store round trip before the call may run) unless the call's signal or the
 * breaker-wide one aborts first: then rejects at once with {@link WaitAborted}, and `work` goes on
 * unobserved (its outcome is the caller's to clean up, for instance a probe lease to release). The
 * call's signal gets a listener for the wait; the breaker-wide one a hook in its group.
 */
export function waitOrAbort<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  group: CallGroup | null,
): Promise<T> {
  if (signal?.aborted === true) return Promise.reject(new WaitAborted(signal.reason));
  if (group?.signal.aborted === true) return Promise.reject(new WaitAborted(group.signal.reason));
  if (signal === undefined && group === null) return work;
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const stop = (): boolean => {
      if (done) return false;
      done = true;
      signal?.removeEventListener('abort', onSignalAbort);
      group?.delete(onAbort);
      return true;
    };
    const onAbort: AbortHook = (reason) => {
      if (stop()) reject(new WaitAborted(reason));
    };
    const onSignalAbort = (): void => onAbort(signal?.reason);
    signal?.addEventListener('abort', onSignalAbort, { once: true });
    group?.add(onAbort);
    work.then(
      (value) => {
        if (stop()) resolve(value);
      },
      (error: unknown) => {
        if (stop()) reject(error);
      },
    );
  });
}

export function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as PromiseLike<T>).then === 'function'
  );
}

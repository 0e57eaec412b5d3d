import type { TimerHandle, TimerProvider } from './clock.js';
import { CallTimeoutError } from './errors/call-timeout-error.js';

/** Something to do when a signal aborts, with the reason. */
export type AbortHook = (reason: unknown) => void;

/**
 * The calls in flight under one long-lived signal (a breaker-wide `signal`, such as a registry's
 * cleanup signal), however many breakers share it. The signal gets **one** abort listener for its
 * whole life; a call joins and leaves a `Set`, which costs the same whether one call or 5,000 are in
 * flight, and retains nothing once the call settled (unlike `AbortSignal.any`, whose bookkeeping
 * stays on the long-lived signal for every call combined with it).
 */
export class AbortGroup {
  static readonly #groups = new WeakMap<AbortSignal, AbortGroup>();
  readonly signal: AbortSignal;
  readonly #hooks = new Set<AbortHook>();

  private constructor(signal: AbortSignal) {
    this.signal = signal;
    signal.addEventListener(
      'abort',
      () => {
        for (const hook of [...this.#hooks]) hook(signal.reason);
        this.#hooks.clear();
      },
      { once: true },
    );
  }

  /** The group of `signal`, created (with its one listener) on first use. */
  static of(signal: AbortSignal): AbortGroup {
    let group = AbortGroup.#groups.get(signal);
    if (group === undefined) {
      group = new AbortGroup(signal);
      AbortGroup.#groups.set(signal, group);
    }
    return group;
  }

  add(hook: AbortHook): void {
    this.#hooks.add(hook);
  }

  delete(hook: AbortHook): void {
    this.#hooks.delete(hook);
  }

  /** Calls in flight in the group (for tests and diagnostics). */
  get size(): number {
    return this.#hooks.size;
  }
}

/** How a guarded call ended. */
export type GuardedEnd<T> =
  | { readonly kind: 'value'; readonly value: T }
  | { readonly kind: 'error'; readonly error: unknown }
  /** A signal aborted first: the caller gets `reason`, the outcome counts for nothing. */
  | { readonly kind: 'aborted'; readonly reason: unknown }
  | { readonly kind: 'timeout'; readonly error: CallTimeoutError };

/** Where a call's aborts come from, and its timeout. */
export interface CallGuards {
  /** The call's own signal (the caller's `{ signal }`). */
  readonly signal: AbortSignal | undefined;
  /** The group of the breaker-wide signal. */
  readonly group: AbortGroup | null;
  readonly timeoutMs: number | null;
  readonly timers: TimerProvider;
  /** For the timeout error's message. */
  readonly circuit: string;
}

/** The signal every call gets when nothing can abort it. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/**
 * What `fn` receives: the one signal that can abort it, handed on as it is, when nothing needs
 * combining (no timeout); a controller's signal when the call has a timeout (aborted by the timeout,
 * the call's own signal or the breaker-wide one). With both a call signal and a breaker-wide signal
 * and no timeout, `fn` gets the call's own signal, and an abort of the breaker-wide one settles the
 * call at once without reaching `fn`: combining them would cost every call an AbortController and a
 * listener, for an event (a shutdown) that happens once.
 */
function signalFor(guards: CallGuards, controller: AbortController | null): AbortSignal {
  if (controller !== null) return controller.signal;
  return guards.signal ?? guards.group?.signal ?? NEVER_ABORTED;
}

/**
 * One call of `fn` under its guards: settles at the first of `fn` settling, the call's signal
 * aborting, the breaker-wide signal aborting, or the timeout. Whatever loses the race is dropped:
 * listeners are removed and the timer cleared, so nothing of the call outlives it.
 */
class GuardedCall<T> {
  readonly #guards: CallGuards;
  readonly #resolve: (end: GuardedEnd<T>) => void;
  #controller: AbortController | null = null;
  #timer: TimerHandle | null = null;
  #done = false;
  readonly #onAbort: AbortHook;
  readonly #onSignalAbort: () => void;

  constructor(guards: CallGuards, resolve: (end: GuardedEnd<T>) => void) {
    this.#guards = guards;
    this.#resolve = resolve;
    this.#onAbort = (reason) => this.#abort(reason);
    this.#onSignalAbort = () => this.#abort(guards.signal?.reason);
  }

  start(fn: (signal: AbortSignal) => T | PromiseLike<T>): void {
    const guards = this.#guards;
    if (guards.timeoutMs !== null) {
      this.#controller = new AbortController();
      const timeoutMs = guards.timeoutMs;
      this.#timer = guards.timers.setTimeout(() => {
        this.#timer = null;
        const error = new CallTimeoutError(guards.circuit, timeoutMs);
        if (this.#finish({ kind: 'timeout', error })) this.#controller?.abort(error);
      }, timeoutMs);
    }
    guards.signal?.addEventListener('abort', this.#onSignalAbort, { once: true });
    guards.group?.add(this.#onAbort);
    let result: T | PromiseLike<T>;
    try {
      result = fn(signalFor(guards, this.#controller));
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

  #abort(reason: unknown): void {
    if (this.#finish({ kind: 'aborted', reason })) this.#controller?.abort(reason);
  }

  #finish(end: GuardedEnd<T>): boolean {
    if (this.#done) return false;
    this.#done = true;
    const guards = this.#guards;
    if (this.#timer !== null) guards.timers.clearTimeout(this.#timer);
    this.#timer = null;
    guards.signal?.removeEventListener('abort', this.#onSignalAbort);
    guards.group?.delete(this.#onAbort);
    this.#resolve(end);
    return true;
  }
}

/**
 * Runs `fn` under `guards` and tells how it ended; never rejects. An already-aborted signal ends the
 * call before `fn` runs.
 */
export function runGuarded<T>(
  fn: (signal: AbortSignal) => T | PromiseLike<T>,
  guards: CallGuards,
): Promise<GuardedEnd<Awaited<T>>> {
  const aborted = abortedReason(guards);
  if (aborted !== NOT_ABORTED) return Promise.resolve({ kind: 'aborted', reason: aborted });
  return new Promise<GuardedEnd<Awaited<T>>>((resolve) => {
    new GuardedCall<Awaited<T>>(guards, resolve).start(
      fn as (signal: AbortSignal) => Awaited<T> | PromiseLike<Awaited<T>>,
    );
  });
}

const NOT_ABORTED = Symbol('not aborted');

/** The reason of whichever of the call's signals already aborted, else a marker. */
export function abortedReason(guards: Pick<CallGuards, 'signal' | 'group'>): unknown {
  if (guards.signal?.aborted === true) return guards.signal.reason;
  if (guards.group?.signal.aborted === true) return guards.group.signal.reason;
  return NOT_ABORTED;
}

/** Thrown (internally) when a wait for the store was cut short by an abort. */
export class WaitAborted {
  constructor(readonly reason: unknown) {}
}

/**
 * Waits for `work` (a store round trip before the call may run) unless one of the call's signals
 * aborts first: then rejects at once with {@link WaitAborted}, and `work` goes on unobserved (its
 * outcome is the caller's to clean up, for instance a probe lease to release).
 */
export function waitOrAbort<T>(work: Promise<T>, guards: Pick<CallGuards, 'signal' | 'group'>): Promise<T> {
  const aborted = abortedReason(guards);
  if (aborted !== NOT_ABORTED) return Promise.reject(new WaitAborted(aborted));
  if (guards.signal === undefined && guards.group === null) return work;
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const stop = (): boolean => {
      if (done) return false;
      done = true;
      guards.signal?.removeEventListener('abort', onSignalAbort);
      guards.group?.delete(onAbort);
      return true;
    };
    const onAbort: AbortHook = (reason) => {
      if (stop()) reject(new WaitAborted(reason));
    };
    const onSignalAbort = (): void => onAbort(guards.signal?.reason);
    guards.signal?.addEventListener('abort', onSignalAbort, { once: true });
    guards.group?.add(onAbort);
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

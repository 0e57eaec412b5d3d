import {
  assertClock,
  assertFunction,
  assertInteger,
  assertKnownKeys,
  assertObject,
  assertOneOf,
  type Disposable,
  describeValue,
  Listeners,
  MAX_TIMER_DELAY_MS,
  monotonicNow,
} from '@xnai/kit';
import { type BreakerSettings, shareSettings } from './breaker-settings.js';
import {
  CallGroup,
  type GuardedEnd,
  isThenable,
  NEVER_ABORTED,
  TimedCall,
  WaitAborted,
  waitOrAbort,
} from './call-runner.js';
import { validateCircuitName } from './circuit-name.js';
import {
  boundedOpenUntil,
  type CircuitState,
  type CircuitStateData,
  type CircuitStatus,
  effectiveStatus,
} from './circuit-state.js';
import { CircuitOpenError } from './errors/circuit-open-error.js';
import { ClosedError } from './errors/closed-error.js';
import { StoreUnavailableError } from './errors/store-unavailable-error.js';
import { OutcomeRecorder } from './outcome-recorder.js';
import { type CircuitPolicy, JITTER_SCALE, resolvePolicy } from './policy.js';
import type { CircuitStateStore, OutcomeKind, ProbeTicket, RejectionReason } from './store.js';
import { CircuitView, type StateChangeEvent, type StoreErrorEvent, UNLOADED_VIEW } from './view.js';
import { WriteBudget } from './write-budget.js';

export {
  type CallEvent,
  type CallRejectionReason,
  type CircuitBreakerOptions,
  DEFAULT_CIRCUIT_BREAKER_OPTIONS,
  type ExecuteOptions,
  type OverrideOptions,
  type StoreFailureMode,
} from './breaker-options.js';
export type { StateChangeEvent, StoreErrorEvent };

import {
  type CallEvent,
  type CallEventOf,
  type CircuitBreakerOptions,
  classifyAsFailure,
  classifyAsSuccess,
  DEFAULT_CIRCUIT_BREAKER_OPTIONS,
  type ExecuteOptions,
  type OverrideOptions,
  readOptions,
} from './breaker-options.js';

/** Builds an error without a stack trace: nobody can use a rejected call's stack, and it costs ~2 µs. */
function withoutStack<E>(build: () => E): E {
  const errorClass = Error as { stackTraceLimit?: number | undefined };
  const limit = errorClass.stackTraceLimit;
  errorClass.stackTraceLimit = 0;
  try {
    return build();
  } finally {
    errorClass.stackTraceLimit = limit;
  }
}

/**
 * A circuit breaker over any {@link CircuitStateStore}. It keeps a local view of its circuit: a call
 * on a closed circuit touches no store, a call on an open circuit is rejected locally until the open
 * period ends, and only half-open admission takes a store round trip. Outcomes are sent to the store
 * without delaying the caller; pushed changes and a periodic refresh keep the view current.
 *
 * Every call goes one way (`execute`): admitted from the view (or the store, when it must be asked),
 * run (under a timeout when it has one; its signals handed to `fn`, never combined),
 * classified, recorded, reported to per-call listeners, and handed to the fallback when it failed or
 * was rejected. A call on a loaded, closed circuit with nothing to time takes the same steps without
 * a promise of its own.
 *
 * @example
 * ```ts
 * const breaker = createCircuitBreaker({ name: 'payments', store: new MemoryStateStore() });
 * const receipt = await breaker.execute((signal) => fetch(url, { signal }));
 * ```
 */
export class CircuitBreaker<TFallback = never> implements AsyncDisposable {
  readonly name: string;
  /**
   * Everything else the breaker was configured with, resolved and frozen: one object shared by every
   * breaker configured alike, so an idle breaker holds a handful of fields of its own.
   */
  readonly #settings: BreakerSettings;
  /** Made on first use (a call, a read, a listener): a breaker never used holds none. */
  #view: CircuitView | null = null;
  #recorder: OutcomeRecorder | null = null;
  /** Hot-path calls left before the next backstop clock check; -1: never (a local store). */
  #clockCheckCountdown: number;
  #calls: Listeners<CallEvent> | null = null;
  /** This instance's probe admissions the store has not answered yet. */
  #acquiring = 0;
  #closed = false;

  /**
   * @throws {InvalidCircuitNameError} the name is invalid.
   * @throws {TypeError | RangeError} an option is invalid, naming it and the value.
   */
  constructor(options: CircuitBreakerOptions<TFallback>) {
    const given = readOptions(options);
    this.name = validateCircuitName(given.name);
    const store = assertObject('store', given.store) as unknown as CircuitStateStore;
    if (store.specificationVersion !== 'v1' || typeof store.acquire !== 'function') {
      throw new TypeError(
        `store must implement CircuitStateStore specification v1, got ${describeValue(store.specificationVersion)}`,
      );
    }
    const callTimeoutMs =
      given.callTimeoutMs === null
        ? null
        : assertInteger('callTimeoutMs', given.callTimeoutMs, 1, MAX_TIMER_DELAY_MS);
    const policy = resolvePolicy(options, callTimeoutMs ?? 0);
    const classifyError = assertFunction<(error: unknown) => OutcomeKind>(
      'classifyError',
      given.classifyError,
    );
    const classifyResult = assertFunction<(value: unknown) => OutcomeKind>(
      'classifyResult',
      given.classifyResult,
    );
    const fallback =
      given.fallback === null
        ? null
        : assertFunction<(error: unknown) => unknown>('fallback', given.fallback);
    const clock = assertClock('clock', given.clock);
    const random = assertFunction<() => number>('random', given.random);
    if (random !== DEFAULT_CIRCUIT_BREAKER_OPTIONS.random) {
      const sample: unknown = random();
      if (typeof sample !== 'number' || !(sample >= 0 && sample < 1)) {
        throw new RangeError(`random must return a number in [0, 1), got ${describeValue(sample)}`);
      }
    }
    const recordIntervalMs = assertInteger(
      'recordIntervalMs',
      given.recordIntervalMs ?? (store.local ? 0 : 1_000),
      0,
      3_600_000,
    );
    const refreshIntervalMs = assertInteger('refreshIntervalMs', given.refreshIntervalMs, 1, 86_400_000);
    // No per-circuit re-read where nothing can be missed (a local store) or the store itself makes
    // sure nothing was (it verifies its push channel), unless asked for.
    const backstop =
      !store.local &&
      ((options as { refreshIntervalMs?: unknown }).refreshIntervalMs !== undefined ||
        store.verifiesPushes !== true);
    const failClosed =
      assertOneOf('onStoreFailure', given.onStoreFailure, ['fail-open', 'fail-closed']) === 'fail-closed';
    this.#clockCheckCountdown = backstop ? 0 : -1;
    const signal = given.signal as AbortSignal | null;
    if (signal !== null && (typeof signal !== 'object' || typeof signal.addEventListener !== 'function')) {
      throw new TypeError(`signal must be an AbortSignal, got ${describeValue(signal)}`);
    }
    this.#settings = shareSettings({
      store,
      policy,
      clock,
      storeClock: store.clock ?? clock,
      random,
      callTimeoutMs,
      classifyError,
      classifyResult,
      fallback,
      recordIntervalMs,
      failClosed,
      untimed: callTimeoutMs === null && policy.slowCallDurationMs === null,
      group: signal === null ? null : CallGroup.of(signal),
      refreshIntervalMs: backstop ? refreshIntervalMs : Number.POSITIVE_INFINITY,
      onStateChange:
        given.onStateChange === null
          ? null
          : assertFunction<(event: StateChangeEvent) => void>('onStateChange', given.onStateChange),
    });
  }

  /** The resolved policy (thresholds, timeouts, window): kept in the shared settings. */
  get policy(): CircuitPolicy {
    return this.#settings.policy;
  }

  /** The view, made on first use. */
  #viewNow(): CircuitView {
    if (this.#view === null) {
      this.#view = new CircuitView(this.name, this.#settings);
      // A breaker closed before its first use: its view starts closed, as it would have been.
      if (this.#closed) this.#viewNow().close();
    }
    return this.#view;
  }

  /** The status callers see now: `closed`, `open`, `half_open`, `forced_open` or `forced_closed`. */
  get status(): CircuitStatus {
    return effectiveStatus(this.stateData, this.#settings.storeClock.now());
  }

  /** The state machine's state in the local view (overrides aside). */
  get state(): CircuitState {
    return this.stateData.state;
  }

  /** The local view of the circuit's stored state. */
  get stateData(): CircuitStateData {
    return this.#view === null ? UNLOADED_VIEW : this.#viewNow().data;
  }

  /**
   * Runs `fn` through the breaker. `fn` receives an AbortSignal: the call's own (`options.signal`),
   * else the breaker-wide one, else one that never aborts; with `callTimeoutMs`, one aborted by the
   * timeout or by either of those.
   *
   * A call whose signal aborted before it ran, or while it waited for the store, settles at once with
   * the abort reason. Once `fn` runs, its signal is `fn`'s to honour (as `fetch` does): the breaker
   * adds no listener to it, and the call settles when `fn` does; an outcome that arrives after either
   * signal aborted counts for nothing (an `ignored` event with `aborted: true`), is not handed to the
   * fallback, and the caller gets what `fn` produced. With `callTimeoutMs`, an abort settles the call
   * at once with the reason.
   * @throws {CircuitOpenError} the call was not admitted (unless a fallback is set).
   * @throws {CallTimeoutError} the call exceeded `callTimeoutMs` (unless a fallback is set).
   * @throws the abort reason, when a signal aborted the call before `fn` ran or under a timeout.
   * @throws whatever `fn` threw, when it is not handled by the fallback.
   */
  execute<T>(
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    options?: ExecuteOptions,
  ): Promise<Awaited<T> | TFallback> {
    const view = this.#view;
    const settings = this.#settings;
    const signal = options?.signal;
    // The common case: a loaded, closed circuit with nothing to time. Same steps as the general
    // path, without a promise of its own: `fn` gets the one signal that can abort it, as it is.
    if (settings.untimed && view?.loaded && !this.#closed) {
      const data = view.data;
      if (data.state === 'closed' && data.override === null) {
        // The backstop refresh reads the clock, which costs more than the rest of this path: on a
        // shared store it is checked every CLOCK_CHECK_EVERY calls; a local store pushes every change
        // synchronously and needs no backstop here.
        const countdown = this.#clockCheckCountdown;
        if (countdown === 0) {
          this.#clockCheckCountdown = CLOCK_CHECK_EVERY;
          view.checkBackstop(settings.clock.now());
        } else if (countdown > 0) {
          this.#clockCheckCountdown = countdown - 1;
        }
        const group = settings.group;
        if ((signal === undefined || !signal.aborted) && (group === null || !group.signal.aborted)) {
          return this.#closedCall(fn, signal, group);
        }
      }
    }
    return this.#execute(fn, signal, true);
  }

  /**
   * Runs `fn` under the breaker's signals and timeout without asking the breaker: the call is
   * always admitted and its outcome is not counted (it is still reported to per-call listeners).
   * What a registry does with a `fail-open` circuit while its store is unavailable.
   */
  executeUncounted<T>(
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    options?: ExecuteOptions,
  ): Promise<Awaited<T> | TFallback> {
    return this.#execute(fn, options?.signal, false);
  }

  /** A call on a loaded, closed, untimed circuit whose signals have not aborted. */
  #closedCall<T>(
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    signal: AbortSignal | undefined,
    group: CallGroup | null,
  ): Promise<Awaited<T> | TFallback> {
    const started = this.#calls === null ? 0 : this.#elapsed();
    let result: T | PromiseLike<T>;
    try {
      result = fn(signal ?? group?.signal ?? NEVER_ABORTED);
    } catch (error) {
      return this.#settleError(error, null, true, started, false, signal);
    }
    if (!isThenable(result)) {
      return Promise.resolve(this.#settleValue(result as Awaited<T>, null, true, started, false, signal));
    }
    if (group === null) {
      return Promise.resolve(result).then(
        (value) => this.#settleValue(value, null, true, started, false, signal),
        (error: unknown) => this.#settleError(error, null, true, started, false, signal),
      );
    }
    group.enter();
    return Promise.resolve(result).then(
      (value) => {
        group.leave();
        return this.#settleValue(value, null, true, started, false, signal);
      },
      (error: unknown) => {
        group.leave();
        return this.#settleError(error, null, true, started, false, signal);
      },
    );
  }

  /**
   * Every other call: waits (abortably) for the first load, decides admission from the view or the
   * store, then runs `fn`, under a timeout when the breaker has one.
   */
  async #execute<T>(
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    signal: AbortSignal | undefined,
    admit: boolean,
  ): Promise<Awaited<T> | TFallback> {
    if (this.#closed) throw new ClosedError(`Circuit breaker "${this.name}"`);
    const group = this.#settings.group;
    group?.enter();
    try {
      return await this.#admitAndRun(fn, signal, admit, group);
    } finally {
      group?.leave();
    }
  }

  async #admitAndRun<T>(
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    signal: AbortSignal | undefined,
    admit: boolean,
    group: CallGroup | null,
  ): Promise<Awaited<T> | TFallback> {
    const asked = this.#calls === null ? 0 : this.#elapsed();
    const view = this.#viewNow();
    let counted = admit;
    let probe: ProbeTicket | null = null;
    try {
      if (!view.loaded) {
        const loading = view.load();
        // A call waits for it: not behind a burst of other circuits' first reads.
        view.expediteLoad();
        await waitOrAbort(loading, signal, group);
      } else if (signal?.aborted === true) throw new WaitAborted(signal.reason);
      else if (group?.signal.aborted === true) throw new WaitAborted(group.signal.reason);
      if (admit) {
        const { clock, storeClock } = this.#settings;
        const local = clock.now();
        view.checkBackstop(local);
        // Stored times (open period, override expiry) are the store's; compare them on its clock.
        const now = storeClock === clock ? local : storeClock.now();
        const data = view.data;
        const override = data.override;
        if (override !== null && (override.expiresAt === null || now < override.expiresAt)) {
          if (override.mode === 'forced_open') return this.#reject('forced_open', override.expiresAt, asked);
          counted = false;
        } else if (data.state === 'open' && now < boundedOpenUntil(data, this.policy.maxOpenTimeoutMs, now)) {
          return this.#reject('open', boundedOpenUntil(data, this.policy.maxOpenTimeoutMs, now), asked);
        } else if (data.state !== 'closed' || data.override !== null) {
          // Time to probe (or an override just lapsed): the one path that asks the store first,
          // unless the view already knows every probe slot is taken (by live leases, or by this
          // instance's own requests in flight): then the store would refuse too.
          if (data.override === null) {
            const taken = this.#takenProbeSlots(data, now);
            if (taken.count >= this.policy.halfOpenMaxCalls) {
              return this.#reject('half_open_full', taken.retryAt, asked);
            }
          }
          this.#acquiring += 1;
          let admission: ProbeTicket | null | 'fail-open' | { rejected: Promise<TFallback> };
          try {
            admission = await this.#acquire(signal, group, asked);
          } finally {
            this.#acquiring -= 1;
          }
          if (admission === 'fail-open') counted = false;
          else if (admission !== null && 'rejected' in admission) return admission.rejected;
          else probe = admission;
        }
      }
    } catch (error) {
      if (error instanceof WaitAborted) {
        this.#emitIgnored(asked, false, true, error.reason);
        throw error.reason;
      }
      throw error;
    }
    const slowMs = this.policy.slowCallDurationMs;
    const started = this.#calls === null && slowMs === null ? 0 : this.#elapsed();
    const timeoutMs = this.#settings.callTimeoutMs;
    let end: GuardedEnd<Awaited<T>>;
    if (timeoutMs === null) {
      try {
        end = { kind: 'value', value: await fn(signal ?? group?.signal ?? NEVER_ABORTED) };
      } catch (error) {
        end = { kind: 'error', error };
      }
    } else {
      end = await TimedCall.run(fn, signal, group, timeoutMs, this.#settings.clock, this.name);
    }
    const slow = slowMs !== null && this.#elapsed() - started >= slowMs;
    switch (end.kind) {
      case 'value':
        return this.#settleValue(end.value, probe, counted, started, slow, signal);
      case 'error':
        return this.#settleError(end.error, probe, counted, started, slow, signal);
      case 'timeout':
        if (counted) this.#record('failure', probe, slow);
        if (this.#calls !== null) {
          this.#emit('timeout', {
            type: 'timeout',
            name: this.name,
            durationMs: this.#since(started),
            probe: probe !== null,
            error: end.error,
          });
        }
        return this.#fail(end.error, started);
      case 'aborted':
        if (counted && probe !== null) this.#record('ignored', probe, false);
        this.#emitIgnored(started, probe !== null, true, end.reason);
        throw end.reason;
      default:
        return assertNeverEnd(end);
    }
  }

  /**
   * Probe slots the view knows are taken at `now`: live leases of the current half-open round (none
   * for an open circuit whose period ended: the store starts a new round) plus this instance's
   * requests in flight, and when the earliest live lease lapses (`null` if none is known).
   */
  #takenProbeSlots(data: CircuitStateData, now: number): { count: number; retryAt: number | null } {
    let count = this.#acquiring;
    let retryAt: number | null = null;
    if (data.state === 'half_open') {
      for (const lease of data.probes) {
        if (lease.expiresAt <= now || lease.round !== data.halfOpenRound) continue;
        count += 1;
        if (retryAt === null || lease.expiresAt < retryAt) retryAt = lease.expiresAt;
      }
    }
    return { count, retryAt };
  }

  /** The reason of the call's signal or the breaker-wide one when either aborted, else a marker. */
  #abortReason(signal: AbortSignal | undefined): unknown {
    if (signal?.aborted === true) return signal.reason;
    const group = this.#settings.group;
    if (group?.signal.aborted === true) return group.signal.reason;
    return NOT_ABORTED;
  }

  /**
   * Asks the store to admit the call. Resolves with the probe ticket (or `null`: admitted
   * uncounted), `'fail-open'`, or a rejection to return. An abort while the store answers settles
   * the call at once; a probe lease granted after that is released.
   */
  async #acquire(
    signal: AbortSignal | undefined,
    group: CallGroup | null,
    asked: number,
  ): Promise<ProbeTicket | null | 'fail-open' | { rejected: Promise<TFallback> }> {
    const request = this.#settings.store.acquire(this.name, this.policy, {
      leaseId: this.#nextLeaseId(),
      jitter: this.#jitter(),
    });
    try {
      const result = await waitOrAbort(request, signal, group);
      this.#viewNow().applyConfirmed(result.state, null);
      const admission = result.admission;
      if (!admission.allowed) return { rejected: this.#reject(admission.reason, admission.retryAt, asked) };
      return admission.probe;
    } catch (error) {
      if (error instanceof WaitAborted) {
        // The store may still grant the lease: give it back at once rather than hold it for probeLeaseMs.
        request.then(
          (result) => {
            this.#viewNow().applyConfirmed(result.state, null);
            const admission = result.admission;
            if (admission.allowed && admission.probe !== null)
              this.#record('ignored', admission.probe, false);
          },
          () => undefined,
        );
        throw error;
      }
      this.#viewNow().storeError('acquire', error);
      if (this.#settings.failClosed) {
        const unavailable = new StoreUnavailableError(
          `Circuit "${this.name}": the state store could not admit the call`,
          { cause: error },
        );
        if (this.#calls !== null) {
          this.#emit('rejected', {
            type: 'rejected',
            name: this.name,
            durationMs: this.#since(asked),
            reason: 'store_unavailable',
            retryAt: null,
          });
        }
        return { rejected: this.#fail(unavailable, asked) };
      }
      return 'fail-open';
    }
  }

  /** `fn` returned `value`: classified, recorded and reported, unless a signal aborted meanwhile. */
  #settleValue<V>(
    value: V,
    probe: ProbeTicket | null,
    counted: boolean,
    started: number,
    slow: boolean,
    signal: AbortSignal | undefined,
  ): V {
    const aborted = this.#abortReason(signal);
    if (aborted !== NOT_ABORTED) {
      this.#settleAborted(probe, counted, started, aborted);
      return value;
    }
    const kind = this.#classify(this.#settings.classifyResult, value);
    if (counted) this.#record(kind, probe, slow);
    if (this.#calls !== null) {
      const durationMs = this.#since(started);
      if (kind === 'ignored') {
        this.#emit('ignored', {
          type: 'ignored',
          name: this.name,
          durationMs,
          probe: probe !== null,
          aborted: false,
          error: undefined,
        });
      } else if (kind === 'failure') {
        this.#emit('failure', {
          type: 'failure',
          name: this.name,
          durationMs,
          probe: probe !== null,
          error: value,
        });
      } else {
        this.#emit('success', { type: 'success', name: this.name, durationMs, probe: probe !== null });
      }
    }
    return value;
  }

  /** `fn` threw `error`: classified, recorded, reported and handed to the fallback, unless a signal aborted meanwhile. */
  #settleError(
    error: unknown,
    probe: ProbeTicket | null,
    counted: boolean,
    started: number,
    slow: boolean,
    signal: AbortSignal | undefined,
  ): Promise<TFallback> {
    const aborted = this.#abortReason(signal);
    if (aborted !== NOT_ABORTED) {
      this.#settleAborted(probe, counted, started, aborted);
      return Promise.reject(error);
    }
    const kind = this.#classify(this.#settings.classifyError, error);
    if (counted) this.#record(kind, probe, slow);
    if (this.#calls !== null) {
      const durationMs = this.#since(started);
      if (kind === 'failure') {
        this.#emit('failure', { type: 'failure', name: this.name, durationMs, probe: probe !== null, error });
      } else if (kind === 'ignored') {
        this.#emit('ignored', {
          type: 'ignored',
          name: this.name,
          durationMs,
          probe: probe !== null,
          aborted: false,
          error,
        });
      } else {
        this.#emit('success', { type: 'success', name: this.name, durationMs, probe: probe !== null });
      }
    }
    return kind === 'failure' ? this.#fail(error, started) : Promise.reject(error);
  }

  /** An outcome that arrived after a signal aborted: it counts for nothing (a probe's lease is given back). */
  #settleAborted(probe: ProbeTicket | null, counted: boolean, started: number, reason: unknown): void {
    if (counted && probe !== null) this.#record('ignored', probe, false);
    this.#emitIgnored(started, probe !== null, true, reason);
  }

  #classify(classifier: (input: unknown) => OutcomeKind, input: unknown): OutcomeKind {
    if (classifier === classifyAsSuccess) return 'success';
    if (classifier === classifyAsFailure) return 'failure';
    try {
      const kind = classifier(input);
      return kind === 'success' || kind === 'ignored' ? kind : 'failure';
    } catch {
      return 'failure';
    }
  }

  /** Hands an outcome to the recorder (created on the first outcome that writes). */
  #record(kind: OutcomeKind, probe: ProbeTicket | null, slow: boolean): void {
    // A call that settles after close() began (a registry closing after its grace period) is dropped.
    if (this.#closed) return;
    if (this.#recorder === null) {
      const view = this.#viewNow();
      if (!OutcomeRecorder.writes(kind, probe, view, this.policy)) return;
      const store = this.#settings.store;
      const perSecond = store.deferredWritesPerSecond;
      const clock = this.#settings.clock;
      this.#recorder = new OutcomeRecorder(
        view,
        this.policy,
        this.#settings.storeClock,
        clock,
        this.#settings.recordIntervalMs,
        () => this.#jitter(),
        perSecond === undefined || store.local
          ? null
          : WriteBudget.of(store, perSecond, clock, () => monotonicNow(clock)),
      );
    }
    this.#recorder.record(kind, probe, slow);
  }

  #reject(reason: RejectionReason, retryAt: number | null, asked: number): Promise<TFallback> {
    if (this.#calls !== null) {
      this.#emit('rejected', {
        type: 'rejected',
        name: this.name,
        durationMs: this.#since(asked),
        reason,
        retryAt,
      });
    }
    return this.#fail(
      withoutStack(() => new CircuitOpenError(this.name, reason, retryAt)),
      asked,
    );
  }

  async #fail(error: unknown, started: number): Promise<TFallback> {
    const fallback = this.#settings.fallback as
      | ((error: unknown) => TFallback | PromiseLike<TFallback>)
      | null;
    if (fallback === null) throw error;
    if (this.#calls !== null) {
      this.#emit('fallback', { type: 'fallback', name: this.name, durationMs: this.#since(started), error });
    }
    return fallback(error);
  }

  #emitIgnored(started: number, probe: boolean, aborted: boolean, error: unknown): void {
    if (this.#calls === null) return;
    this.#emit('ignored', {
      type: 'ignored',
      name: this.name,
      durationMs: this.#since(started),
      probe,
      aborted,
      error,
    });
  }

  #emit<K extends CallEvent['type']>(_type: K, event: CallEventOf<K>): void {
    this.#calls?.emit(event);
  }

  /** Milliseconds on the duration clock: the clock's `monotonic()` when it has one, else `now()`. */
  #elapsed(): number {
    const clock = this.#settings.clock;
    return clock.monotonic === undefined ? clock.now() : clock.monotonic();
  }

  #since(started: number): number {
    return this.#calls === null ? 0 : Math.max(0, this.#elapsed() - started);
  }

  #jitter(): number {
    return this.policy.jitterRatio === 0 ? 0 : Math.floor(this.#unit() * JITTER_SCALE);
  }

  /**
   * The `random` option's next value, held to [0, 1): a value outside it (NaN, say) counts as 0, so
   * that jitter and lease ids stay well-formed and every store computes the same open period.
   */
  #unit(): number {
    const value = this.#settings.random();
    return value >= 0 && value < 1 ? value : 0;
  }

  #nextLeaseId(): string {
    leaseCounter += 1;
    return `${Math.floor(this.#unit() * 2 ** 48).toString(36)}.${leaseCounter}`;
  }

  /** Re-reads the circuit from the store now and returns the refreshed view. */
  refresh(): Promise<CircuitStateData> {
    return this.#viewNow().refresh();
  }

  /**
   * Forces the circuit open across every instance sharing the store, until cleared or `durationMs`
   * (resolved on the store's clock).
   */
  forceOpen(options: OverrideOptions = {}): Promise<CircuitStateData> {
    return this.#override('forced_open', options);
  }

  /** Forces the circuit closed (calls pass and count for nothing) until cleared or `durationMs`. */
  forceClosed(options: OverrideOptions = {}): Promise<CircuitStateData> {
    return this.#override('forced_closed', options);
  }

  /** Removes a manual override; the state machine's state applies again. */
  async clearOverride(): Promise<CircuitStateData> {
    const data = await this.#settings.store.override(this.name, null, this.policy);
    this.#viewNow().applyConfirmed(data, 'override_cleared', this.#settings.storeClock.now());
    return this.#viewNow().data;
  }

  /** Closes the circuit and clears counters, backoff, probes and any override. */
  async reset(): Promise<CircuitStateData> {
    await this.#recorder?.flushPending();
    const data = await this.#settings.store.reset(this.name, this.policy);
    this.#viewNow().applyConfirmed(data, 'reset', this.#settings.storeClock.now());
    return this.#viewNow().data;
  }

  async #override(
    mode: 'forced_open' | 'forced_closed',
    options: OverrideOptions,
  ): Promise<CircuitStateData> {
    const raw = assertObject('override options', options);
    assertKnownKeys('override options', raw, new Set(['reason', 'durationMs']));
    if (options.reason !== undefined && typeof options.reason !== 'string') {
      throw new TypeError(`reason must be a string, got ${describeValue(options.reason)}`);
    }
    const durationMs =
      options.durationMs === undefined ? null : assertInteger('durationMs', options.durationMs, 1);
    // The store resolves the duration on its own clock (Redis time for a Redis store).
    const data = await this.#settings.store.override(
      this.name,
      { mode, reason: options.reason ?? null, durationMs },
      this.policy,
    );
    this.#viewNow().applyConfirmed(data, mode, this.#settings.storeClock.now());
    return this.#viewNow().data;
  }

  /** Sends outcomes still batched for the sliding window and waits for every write in flight. */
  async flush(): Promise<void> {
    await this.#recorder?.flushPending();
    await this.#view?.settled();
  }

  /** Listens for status changes of this breaker's view. */
  onStateChange(listener: (event: StateChangeEvent) => void): Disposable {
    return this.#viewNow().onStateChange(listener);
  }

  /** Listens for store failures the breaker absorbed. */
  onStoreError(listener: (event: StoreErrorEvent) => void): Disposable {
    return this.#viewNow().onStoreError(listener);
  }

  /**
   * Listens for every call: `success`, `failure` (with the error or failing value), `timeout`,
   * `ignored` (classified so, or aborted), `rejected` (with the reason and `retryAt`) and `fallback`
   * (the fallback replaced a rejection or failure), each with its duration. With no listener a call
   * reads no clock and builds no event (benchmark rows `metrics.none`, `metrics.listener` and
   * `call.events-one`).
   */
  onCall(listener: (event: CallEvent) => void): Disposable {
    this.#calls ??= new Listeners();
    const subscription = this.#calls.add(listener);
    return {
      dispose: () => {
        subscription.dispose();
        if (this.#calls !== null && this.#calls.size === 0) this.#calls = null;
      },
      [Symbol.dispose]() {
        this.dispose();
      },
    };
  }

  /** Listens for calls that succeeded. */
  onSuccess(listener: (event: CallEventOf<'success'>) => void): Disposable {
    return this.#onCallOf('success', listener);
  }

  /** Listens for calls that failed (a thrown error, or a value classified as a failure). */
  onFailure(listener: (event: CallEventOf<'failure'>) => void): Disposable {
    return this.#onCallOf('failure', listener);
  }

  /** Listens for calls that exceeded `callTimeoutMs`. */
  onTimeout(listener: (event: CallEventOf<'timeout'>) => void): Disposable {
    return this.#onCallOf('timeout', listener);
  }

  /** Listens for calls whose outcome counted for nothing (classified `ignored`, or aborted). */
  onIgnored(listener: (event: CallEventOf<'ignored'>) => void): Disposable {
    return this.#onCallOf('ignored', listener);
  }

  /** Listens for calls the breaker refused to run. */
  onRejected(listener: (event: CallEventOf<'rejected'>) => void): Disposable {
    return this.#onCallOf('rejected', listener);
  }

  /** Listens for calls whose rejection or failure the fallback replaced. */
  onFallback(listener: (event: CallEventOf<'fallback'>) => void): Disposable {
    return this.#onCallOf('fallback', listener);
  }

  #onCallOf<K extends CallEvent['type']>(type: K, listener: (event: CallEventOf<K>) => void): Disposable {
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    return this.onCall((event) => {
      if (event.type === type) listener(event as CallEventOf<K>);
    });
  }

  /** Sends batched outcomes, waits for writes in flight, stops listening to the store. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // The `onStateChange` option hears nothing from here on (a registry removing the circuit may
    // register a new breaker of that name while this one flushes).
    this.#view?.stopRelay();
    await this.flush();
    this.#view?.close();
    this.#calls = null;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function assertNeverEnd(end: never): never {
  throw new Error(`unexpected call end ${String((end as GuardedEnd<unknown>).kind)}`);
}

const NOT_ABORTED = Symbol('not aborted');

/** On a shared store, the hot path checks the backstop refresh's clock once per this many calls. */
const CLOCK_CHECK_EVERY = 15;

/** Makes lease ids unique within the process (their random part makes them unique across it). */
let leaseCounter = 0;

/**
 * Creates a {@link CircuitBreaker}.
 * @example
 * ```ts
 * import { createCircuitBreaker } from '@xnai/cb-core';
 * import { MemoryStateStore } from '@xnai/cb-store-memory';
 *
 * const breaker = createCircuitBreaker({ name: 'inventory', store: new MemoryStateStore(), failureThreshold: 5 });
 * const stock = await breaker.execute((signal) => fetch('https://inventory/stock', { signal }));
 * ```
 */
export function createCircuitBreaker<TFallback = never>(
  options: CircuitBreakerOptions<TFallback>,
): CircuitBreaker<TFallback> {
  return new CircuitBreaker(options);
}

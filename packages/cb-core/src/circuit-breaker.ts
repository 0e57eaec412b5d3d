import { validateCircuitName } from './circuit-name.js';
import {
  boundedOpenUntil,
  type CircuitState,
  type CircuitStateData,
  type CircuitStatus,
  createInitialState,
  effectiveStatus,
} from './circuit-state.js';
import { type Clock, systemClock, type TimerHandle, type TimerProvider } from './clock.js';
import { CallTimeoutError } from './errors/call-timeout-error.js';
import { CircuitOpenError } from './errors/circuit-open-error.js';
import { ClosedError } from './errors/closed-error.js';
import { StoreUnavailableError } from './errors/store-unavailable-error.js';
import { Listeners } from './listeners.js';
import { OutcomeBatchBuilder, type RecordedOutcomes, TripDetector } from './outcome-batch.js';
import {
  type CircuitPolicy,
  type CircuitPolicyOptions,
  JITTER_SCALE,
  POLICY_OPTION_NAMES,
  resolvePolicy,
} from './policy.js';
import type {
  CallOutcome,
  CircuitStateChange,
  CircuitStateStore,
  Disposable,
  OutcomeKind,
  ProbeTicket,
  RejectionReason,
  TransitionReason,
} from './store.js';
import { transition } from './transition.js';
import {
  assertFunction,
  assertInteger,
  assertKnownKeys,
  assertObject,
  assertOneOf,
  describeValue,
} from './validation.js';

/** What a breaker does with a call when its store cannot be reached to admit it. */
export type StoreFailureMode = 'fail-open' | 'fail-closed';

export interface CircuitBreakerOptions<TFallback = never> extends CircuitPolicyOptions {
  /** The circuit's name: 1 to 256 UTF-8 bytes, no control characters. */
  readonly name: string;
  /** Where the circuit's state lives; swap backends by passing another store. */
  readonly store: CircuitStateStore;
  /**
   * Per-call timeout. On expiry the call's AbortSignal is aborted, the call counts as a failure and
   * the caller gets a {@link CallTimeoutError}. `null` for none.
   * @default null
   */
  readonly callTimeoutMs?: number | null;
  /**
   * Classifies a thrown error (or rejection value) as `failure`, `success` or `ignored`.
   * @default every error is a `failure`
   */
  readonly classifyError?: (error: unknown) => OutcomeKind;
  /**
   * Classifies a returned value; return `failure` for result-based failures (for example an HTTP
   * 503 response object). The value is still returned to the caller.
   * @default every value is a `success`
   */
  readonly classifyResult?: (value: unknown) => OutcomeKind;
  /**
   * Called instead of throwing when a call is rejected or fails; receives the error.
   * @default null (errors are thrown)
   */
  readonly fallback?: ((error: unknown) => TFallback | PromiseLike<TFallback>) | null;
  /**
   * Clock and timers; inject to control time in tests.
   * @default systemClock
   */
  readonly clock?: Clock & TimerProvider;
  /**
   * Source of randomness in [0, 1) for open-period jitter and probe lease ids.
   * @default Math.random
   */
  readonly random?: () => number;
  /**
   * How long closed-state outcomes for a sliding window are batched before they are sent to the
   * store. `0` sends each at once.
   * @default 0 for a local store, 1000 for a shared one
   */
  readonly recordIntervalMs?: number;
  /**
   * Backstop for a shared store: the local view is re-read from the store when it is older than this.
   * A call on a closed circuit looks at the clock for it once every 16 calls (reading the clock costs
   * more than the rest of that path); other calls look every time. Pushed changes keep the view
   * fresher in between, and a local store (which pushes every change synchronously) is never re-read.
   * @default 5000
   */
  readonly refreshIntervalMs?: number;
  /**
   * When the store cannot be reached to admit a probe: `fail-open` runs the call uncounted,
   * `fail-closed` rejects it with {@link StoreUnavailableError}.
   * @default 'fail-open'
   */
  readonly onStoreFailure?: StoreFailureMode;
  /**
   * A signal for every call of this breaker (a service's shutdown, say): `fn` receives it, and when it
   * aborts every call still in flight is abandoned at once: it rejects with the signal's reason and
   * its outcome counts for nothing. Cheaper than a per-call `signal`, which costs each call an
   * AbortController and a listener.
   * @default null
   */
  readonly signal?: AbortSignal | null;
}

/** Options of one call. */
export interface ExecuteOptions {
  /** Aborting it abandons the call: the caller gets the abort reason and the outcome is ignored. */
  readonly signal?: AbortSignal;
}

/** Payload of {@link CircuitBreaker.onStateChange}. */
export interface StateChangeEvent {
  readonly name: string;
  readonly from: CircuitStatus;
  readonly to: CircuitStatus;
  readonly reason: TransitionReason | 'synchronized';
  /** Epoch ms of the change (the store's clock when the store made it). */
  readonly at: number;
}

/** Payload of {@link CircuitBreaker.onStoreError}: store I/O failed; the caller was not affected. */
export interface StoreErrorEvent {
  readonly name: string;
  readonly operation: 'load' | 'refresh' | 'acquire' | 'record';
  readonly error: unknown;
}

/** Options of a manual override. */
export interface OverrideOptions {
  /** Shown in status and events. */
  readonly reason?: string;
  /** The override lapses after this long; absent for none. */
  readonly durationMs?: number;
}

const OPTION_NAMES = new Set([
  ...POLICY_OPTION_NAMES,
  'name',
  'store',
  'callTimeoutMs',
  'classifyError',
  'classifyResult',
  'fallback',
  'clock',
  'random',
  'recordIntervalMs',
  'refreshIntervalMs',
  'onStoreFailure',
  'signal',
]);

const NEVER_ABORTED = new AbortController().signal;
const classifyAsFailure = (): OutcomeKind => 'failure';
const classifyAsSuccess = (): OutcomeKind => 'success';

function storedStatus(data: CircuitStateData): CircuitStatus {
  return data.override?.mode ?? data.state;
}

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
 * @example
 * ```ts
 * const breaker = createCircuitBreaker({ name: 'payments', store: new MemoryStateStore() });
 * const receipt = await breaker.execute((signal) => fetch(url, { signal }));
 * ```
 */
export class CircuitBreaker<TFallback = never> implements AsyncDisposable {
  readonly name: string;
  readonly policy: CircuitPolicy;
  readonly #store: CircuitStateStore;
  readonly #clock: Clock & TimerProvider;
  /** The store's notion of now (Redis time, for a Redis store); the breaker's clock when it has none. */
  readonly #storeClock: Clock;
  readonly #random: () => number;
  readonly #callTimeoutMs: number | null;
  readonly #classifyError: (error: unknown) => OutcomeKind;
  readonly #classifyResult: (value: unknown) => OutcomeKind;
  readonly #fallback: ((error: unknown) => TFallback | PromiseLike<TFallback>) | null;
  readonly #recordIntervalMs: number;
  readonly #refreshIntervalMs: number;
  readonly #failClosed: boolean;
  /** No call timeout and no slow-call measurement: calls need neither a timer nor a clock read. */
  readonly #untimed: boolean;
  /** The breaker-wide signal, and the rejecters of the hot-path calls in flight it would abandon. */
  readonly #signal: AbortSignal | null;
  #abandonable: Set<(reason: unknown) => void> | null = null;
  /**
   * Breakers grouped by their breaker-wide signal: one abort listener per signal, however many
   * breakers share it (a registry of 100,000 circuits shares one), since adding listeners to one
   * EventTarget costs more the more it has.
   */
  static readonly #bySignal = new WeakMap<AbortSignal, Set<CircuitBreaker<unknown>>>();

  #view: CircuitStateData;
  /** Highest version received from the store; -1 before the first read. */
  #confirmedVersion = -1;
  /** Newest data from the store that is held back while own writes are in flight. */
  #heldBack: CircuitStateData | null = null;
  #heldBackReason: StateChangeEvent['reason'] | null = null;
  #inFlight = 0;
  /** Counts what changed the view (local outcomes, write replies, pushes), so a read can tell it raced. */
  #viewChanges = 0;
  /** Writes in flight, for flush(); allocated on the first write (an idle breaker stays small). */
  #writes: Set<Promise<void>> | null = null;
  #loaded = false;
  #loading: Promise<void> | null = null;
  #refreshing = false;
  #lastRefresh = 0;
  /** Hot-path calls left before the next backstop clock check; -1: never (a local store). */
  #clockCheckCountdown: number;
  /** Sliding-window outcomes waiting for the next flush, with the batch's jitter and flush timer. */
  #pending: PendingBatch | null = null;
  #subscription: Disposable | null = null;
  #closed = false;
  #stateListeners: Listeners<StateChangeEvent> | null = null;
  #errorListeners: Listeners<StoreErrorEvent> | null = null;

  /**
   * @throws {InvalidCircuitNameError} the name is invalid.
   * @throws {TypeError | RangeError} an option is invalid, naming it and the value.
   */
  constructor(options: CircuitBreakerOptions<TFallback>) {
    const raw = assertObject('options', options);
    assertKnownKeys('options', raw, OPTION_NAMES);
    this.name = validateCircuitName(options.name);
    const store = assertObject('store', options.store) as unknown as CircuitStateStore;
    if (store.specificationVersion !== 'v1' || typeof store.acquire !== 'function') {
      throw new TypeError(
        `store must implement CircuitStateStore specification v1, got ${describeValue(store.specificationVersion)}`,
      );
    }
    this.#store = store;
    this.#callTimeoutMs =
      options.callTimeoutMs == null
        ? null
        : assertInteger('callTimeoutMs', options.callTimeoutMs, 1, 2_147_483_647);
    this.policy = resolvePolicy(options, this.#callTimeoutMs ?? 0);
    this.#classifyError =
      options.classifyError === undefined
        ? classifyAsFailure
        : assertFunction('classifyError', options.classifyError);
    this.#classifyResult =
      options.classifyResult === undefined
        ? classifyAsSuccess
        : assertFunction('classifyResult', options.classifyResult);
    this.#fallback = options.fallback == null ? null : assertFunction('fallback', options.fallback);
    const clock = options.clock ?? systemClock;
    assertFunction('clock.now', clock.now);
    assertFunction('clock.setTimeout', clock.setTimeout);
    this.#clock = clock;
    this.#storeClock = store.clock ?? clock;
    this.#random = options.random === undefined ? Math.random : assertFunction('random', options.random);
    if (options.random !== undefined) {
      const sample: unknown = this.#random();
      if (typeof sample !== 'number' || !(sample >= 0 && sample < 1)) {
        throw new RangeError(`random must return a number in [0, 1), got ${describeValue(sample)}`);
      }
    }
    this.#recordIntervalMs = assertInteger(
      'recordIntervalMs',
      options.recordIntervalMs ?? (store.local ? 0 : 1_000),
      0,
      3_600_000,
    );
    this.#refreshIntervalMs = assertInteger(
      'refreshIntervalMs',
      options.refreshIntervalMs ?? 5_000,
      1,
      86_400_000,
    );
    this.#failClosed =
      assertOneOf('onStoreFailure', options.onStoreFailure ?? 'fail-open', ['fail-open', 'fail-closed']) ===
      'fail-closed';
    this.#view = UNLOADED_VIEW;
    this.#untimed = this.#callTimeoutMs === null && this.policy.slowCallDurationMs === null;
    this.#clockCheckCountdown = store.local ? -1 : 0;
    const signal = options.signal ?? null;
    if (signal !== null && (typeof signal !== 'object' || typeof signal.addEventListener !== 'function')) {
      throw new TypeError(`signal must be an AbortSignal, got ${describeValue(signal)}`);
    }
    this.#signal = signal;
    if (signal !== null) CircuitBreaker.#join(signal, this as CircuitBreaker<unknown>);
  }

  static #join(signal: AbortSignal, breaker: CircuitBreaker<unknown>): void {
    let group = CircuitBreaker.#bySignal.get(signal);
    if (group === undefined) {
      const members = new Set<CircuitBreaker<unknown>>();
      group = members;
      CircuitBreaker.#bySignal.set(signal, members);
      signal.addEventListener(
        'abort',
        () => {
          for (const member of [...members]) member.#abandonAll(signal.reason);
        },
        { once: true },
      );
    }
    group.add(breaker);
  }

  /** Rejects every hot-path call in flight with `reason`; their outcomes will count for nothing. */
  #abandonAll(reason: unknown): void {
    const abandonable = this.#abandonable;
    if (abandonable === null) return;
    this.#abandonable = null;
    for (const abandon of [...abandonable]) abandon(reason);
  }

  /** The status callers see now: `closed`, `open`, `half_open`, `forced_open` or `forced_closed`. */
  get status(): CircuitStatus {
    return effectiveStatus(this.#view, this.#storeClock.now());
  }

  /** The state machine's state in the local view (overrides aside). */
  get state(): CircuitState {
    return this.#view.state;
  }

  /** The local view of the circuit's stored state. */
  get stateData(): CircuitStateData {
    return this.#view;
  }

  /**
   * Runs `fn` through the breaker. `fn` receives an AbortSignal that is aborted on the call timeout
   * or when `options.signal` aborts.
   * @throws {CircuitOpenError} the call was not admitted (unless a fallback is set).
   * @throws {CallTimeoutError} the call exceeded `callTimeoutMs` (unless a fallback is set).
   * @throws whatever `fn` threw, when it is not handled by the fallback.
   */
  execute<T>(
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    options?: ExecuteOptions,
  ): Promise<Awaited<T> | TFallback> {
    // The hot path: a loaded, closed circuit with nothing to time. No store I/O, no extra promise
    // layer, no timer; everything else takes the general path below.
    if (options === undefined && this.#untimed && this.#loaded && !this.#closed) {
      const view = this.#view;
      if (view.state === 'closed' && view.override === null) {
        // The backstop refresh reads the clock, which costs more than the rest of this path: on a
        // shared store it is checked every CLOCK_CHECK_EVERY calls; a local store pushes every change
        // synchronously and needs no backstop here.
        const countdown = this.#clockCheckCountdown;
        if (countdown === 0) {
          this.#clockCheckCountdown = CLOCK_CHECK_EVERY;
          const local = this.#clock.now();
          if (local - this.#lastRefresh >= this.#refreshIntervalMs) this.#refresh(local);
        } else if (countdown > 0) {
          this.#clockCheckCountdown = countdown - 1;
        }
        const signal = this.#signal ?? NEVER_ABORTED;
        if (signal.aborted) return Promise.reject(signal.reason);
        let result: T | PromiseLike<T>;
        try {
          result = fn(signal);
        } catch (error) {
          return this.#failedFast(error);
        }
        if (!isThenable(result)) return Promise.resolve(this.#succeededFast(result as Awaited<T>));
        if (this.#signal !== null) {
          if (this.#abandonable === null) this.#abandonable = new Set();
          return this.#abandonableCall(result, this.#abandonable);
        }
        return Promise.resolve(result).then(
          (value) => this.#succeededFast(value),
          (error: unknown) => this.#failedFast(error),
        );
      }
    }
    return this.#execute(fn, options);
  }

  /** A hot-path call the breaker-wide signal can abandon; once abandoned its outcome is dropped. */
  #abandonableCall<T>(
    result: PromiseLike<T>,
    abandonable: Set<(reason: unknown) => void>,
  ): Promise<Awaited<T> | TFallback> {
    return new Promise<Awaited<T> | TFallback>((resolve, reject) => {
      let done = false;
      const abandon = (reason: unknown): void => {
        if (done) return;
        done = true;
        reject(reason);
      };
      abandonable.add(abandon);
      Promise.resolve(result).then(
        (value) => {
          if (done) return;
          done = true;
          abandonable.delete(abandon);
          resolve(this.#succeededFast(value) as Awaited<T>);
        },
        (error: unknown) => {
          if (done) return;
          done = true;
          abandonable.delete(abandon);
          this.#failedFast(error).then(resolve, reject);
        },
      );
    });
  }

  #succeededFast<V>(value: V): V {
    this.#settle(this.#classify(this.#classifyResult, value), null, false);
    return value;
  }

  #failedFast(error: unknown): Promise<TFallback> {
    const kind = this.#classify(this.#classifyError, error);
    this.#settle(kind, null, false);
    return kind === 'failure' ? this.#fail(error) : Promise.reject(error);
  }

  async #execute<T>(
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    options?: ExecuteOptions,
  ): Promise<Awaited<T> | TFallback> {
    if (this.#closed) throw new ClosedError(`Circuit breaker "${this.name}"`);
    options?.signal?.throwIfAborted();
    if (!this.#loaded) await this.#load();
    const local = this.#clock.now();
    if (local - this.#lastRefresh >= this.#refreshIntervalMs) this.#refresh(local);
    // Stored times (open period, override expiry) are the store's; compare them on its clock.
    const now = this.#storeClock === this.#clock ? local : this.#storeClock.now();

    const view = this.#view;
    const override = view.override;
    let counted = true;
    let probe: ProbeTicket | null = null;
    if (override !== null && (override.expiresAt === null || now < override.expiresAt)) {
      if (override.mode === 'forced_open') return this.#reject('forced_open', override.expiresAt);
      counted = false;
    } else if (view.state === 'open' && now < boundedOpenUntil(view, this.policy.maxOpenTimeoutMs, now)) {
      return this.#reject('open', boundedOpenUntil(view, this.policy.maxOpenTimeoutMs, now));
    } else if (view.state !== 'closed' || view.override !== null) {
      // Time to probe (or an override just lapsed): the one path that asks the store first.
      try {
        const result = await this.#store.acquire(this.name, this.policy, {
          leaseId: this.#nextLeaseId(),
          jitter: this.#jitter(),
        });
        this.#applyConfirmed(result.state, null);
        const admission = result.admission;
        if (!admission.allowed) return this.#reject(admission.reason, admission.retryAt);
        probe = admission.probe;
      } catch (error) {
        this.#errorListeners?.emit({ name: this.name, operation: 'acquire', error });
        if (this.#failClosed) {
          return this.#fail(
            new StoreUnavailableError(`Circuit "${this.name}": the state store could not admit the call`, {
              cause: error,
            }),
          );
        }
        counted = false;
      }
    }
    const callerSignal = options?.signal ?? this.#signal ?? undefined;
    const signal =
      options?.signal !== undefined && this.#signal !== null
        ? AbortSignal.any([options.signal, this.#signal])
        : callerSignal;
    return this.#run(fn, probe, counted, signal);
  }

  async #run<T>(
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    probe: ProbeTicket | null,
    counted: boolean,
    callerSignal: AbortSignal | undefined,
  ): Promise<Awaited<T> | TFallback> {
    const timed = this.policy.slowCallDurationMs !== null;
    const started = timed ? this.#clock.now() : 0;
    let value: Awaited<T>;
    try {
      value =
        this.#callTimeoutMs === null && callerSignal === undefined
          ? await fn(NEVER_ABORTED)
          : await this.#guarded(fn, callerSignal);
    } catch (error) {
      let kind: OutcomeKind;
      if (error instanceof CallerAbort) kind = 'ignored';
      else if (error instanceof CallTimeoutError) kind = 'failure';
      else kind = this.#classify(this.#classifyError, error);
      if (counted)
        this.#settle(
          kind,
          probe,
          timed && this.#clock.now() - started >= (this.policy.slowCallDurationMs ?? 0),
        );
      const thrown = error instanceof CallerAbort ? error.reason : error;
      if (kind === 'failure') return this.#fail(thrown);
      throw thrown;
    }
    if (counted) {
      const kind = this.#classify(this.#classifyResult, value);
      this.#settle(
        kind,
        probe,
        timed && this.#clock.now() - started >= (this.policy.slowCallDurationMs ?? 0),
      );
    }
    return value;
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

  /** Runs `fn` under the call timeout and the caller's signal. */
  #guarded<T>(
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    callerSignal: AbortSignal | undefined,
  ): Promise<Awaited<T>> {
    const controller = new AbortController();
    return new Promise<Awaited<T>>((resolve, reject) => {
      let timer: TimerHandle | null = null;
      let settled = false;
      const finish = (): boolean => {
        if (settled) return false;
        settled = true;
        if (timer !== null) this.#clock.clearTimeout(timer);
        callerSignal?.removeEventListener('abort', onAbort);
        return true;
      };
      const onAbort = (): void => {
        if (!finish()) return;
        controller.abort(callerSignal?.reason);
        reject(new CallerAbort(callerSignal?.reason));
      };
      if (this.#callTimeoutMs !== null) {
        const timeoutMs = this.#callTimeoutMs;
        timer = this.#clock.setTimeout(() => {
          if (!finish()) return;
          const error = new CallTimeoutError(this.name, timeoutMs);
          controller.abort(error);
          reject(error);
        }, timeoutMs);
      }
      callerSignal?.addEventListener('abort', onAbort, { once: true });
      try {
        Promise.resolve(fn(controller.signal)).then(
          (value) => {
            if (finish()) resolve(value as Awaited<T>);
          },
          (error: unknown) => {
            if (finish()) reject(error);
          },
        );
      } catch (error) {
        if (finish()) reject(error);
      }
    });
  }

  /** Hands an outcome to the store, updating the local view at once. */
  #settle(kind: OutcomeKind, probe: ProbeTicket | null, slow: boolean): void {
    if (probe !== null) {
      // Probe outcomes always go at once: they decide the half-open round, and release the lease.
      const outcomes = [{ kind, slow, probe }];
      const jitter = this.#jitter();
      this.#applyLocally(outcomes, jitter);
      this.#send(outcomes, jitter);
      return;
    }
    if (kind === 'ignored') return;
    const view = this.#view;
    if (view.state !== 'closed' || view.override !== null) return;
    const windowed = this.policy.slidingWindow !== null;
    // The hot path: a success on a closed circuit with nothing to reset writes nothing.
    if (kind === 'success' && !windowed && view.failureCount === 0) return;

    if (!windowed || this.#recordIntervalMs === 0) {
      const outcome: CallOutcome = slow ? { kind, slow } : kind === 'success' ? SUCCESS : FAILURE;
      const jitter = this.#jitter();
      this.#applyLocally([outcome], jitter);
      this.#send([outcome], jitter);
      return;
    }
    // A sliding window on a shared store: outcomes are batched for recordIntervalMs and sent as one
    // reduced batch, whatever the call rate. Each one is judged locally at once, in constant time:
    // an outcome that trips this instance's view flushes the batch without waiting.
    let pending = this.#pending;
    if (pending === null) {
      const batch: PendingBatch = {
        builder: new OutcomeBatchBuilder(this.policy),
        detector: new TripDetector(this.policy),
        jitter: this.#jitter(),
        timer: null,
      };
      batch.timer = this.#clock.setTimeout(() => {
        batch.timer = null;
        if (this.#pending === batch) this.#flushPending();
      }, this.#recordIntervalMs);
      this.#pending = batch;
      pending = batch;
    }
    const failed = kind === 'failure';
    pending.builder.add(failed, slow);
    const now = this.policy.slidingWindow?.type === 'time' ? this.#storeClock.now() : 0;
    if (pending.detector.add(view, pending.builder, failed, slow, now)) this.#flushPending();
  }

  /**
   * Applies outcomes to the local view before the store confirms them, so this instance acts on
   * them at once (and announces the change with its real reason). Returns whether the status changed.
   */
  #applyLocally(outcomes: RecordedOutcomes, jitter: number): boolean {
    const local = transition(
      this.#view,
      { type: 'record', outcomes, jitter },
      this.policy,
      this.#storeClock.now(),
    );
    if (!local.changed) return false;
    this.#setView(local.state, local.transition?.reason ?? null, local.transition?.at);
    return local.transition !== null;
  }

  #flushPending(): Promise<void> {
    const pending = this.#pending;
    if (pending === null) return Promise.resolve();
    this.#pending = null;
    if (pending.timer !== null) this.#clock.clearTimeout(pending.timer);
    const batch = pending.builder.build();
    this.#applyLocally(batch, pending.jitter);
    return this.#send(batch, pending.jitter);
  }

  #send(outcomes: RecordedOutcomes, jitter: number): Promise<void> {
    this.#inFlight += 1;
    const write = this.#store.record(this.name, outcomes, this.policy, jitter).then(
      (state) => {
        this.#inFlight -= 1;
        this.#applyConfirmed(state, null);
      },
      (error: unknown) => {
        this.#inFlight -= 1;
        this.#errorListeners?.emit({ name: this.name, operation: 'record', error });
        this.#releaseHeldBack();
      },
    );
    if (this.#writes === null) this.#writes = new Set();
    const writes = this.#writes;
    const tracked = write.finally(() => writes.delete(tracked));
    writes.add(tracked);
    return tracked;
  }

  /**
   * Takes data read from the store when it is at least as new as anything seen. While own writes are
   * in flight it is held back: replacing the view then would undo optimistic updates still under way.
   */
  #applyConfirmed(
    data: CircuitStateData | null,
    reason: StateChangeEvent['reason'] | null,
    at?: number,
    deletedVersion = 0,
  ): void {
    if (data === null) {
      // Deleted in the store: start over as a fresh closed circuit; older pushes no longer apply.
      if (deletedVersion < this.#confirmedVersion && deletedVersion > 0) return;
      this.#confirmedVersion = deletedVersion;
      this.#heldBack = null;
      this.#setView(createInitialState(this.#storeClock.now()), reason ?? 'synchronized', at);
      return;
    }
    if (data.version >= this.#confirmedVersion) {
      this.#confirmedVersion = data.version;
      if (this.#inFlight > 0) {
        this.#heldBack = data;
        this.#heldBackReason = reason ?? this.#heldBackReason;
        return;
      }
      this.#heldBack = null;
      this.#setView(data, reason ?? this.#heldBackReason, at);
      this.#heldBackReason = null;
    } else {
      this.#releaseHeldBack();
    }
  }

  #releaseHeldBack(): void {
    if (this.#inFlight > 0 || this.#heldBack === null) return;
    const data = this.#heldBack;
    const reason = this.#heldBackReason;
    this.#heldBack = null;
    this.#heldBackReason = null;
    this.#setView(data, reason);
  }

  #setView(data: CircuitStateData, reason: StateChangeEvent['reason'] | null, at?: number): void {
    this.#viewChanges += 1;
    const from = storedStatus(this.#view);
    this.#view = data;
    const to = storedStatus(data);
    if (from !== to && this.#stateListeners !== null) {
      this.#stateListeners.emit({
        name: this.name,
        from,
        to,
        reason: reason ?? 'synchronized',
        at: at ?? data.lastStateChange,
      });
    }
  }

  #onPush(change: CircuitStateChange): void {
    if (this.#closed) return;
    this.#applyConfirmed(
      change.state,
      change.transition?.reason ?? null,
      change.transition?.at,
      change.version,
    );
  }

  #load(): Promise<void> {
    this.#loading ??= (async () => {
      this.#subscription = this.#store.subscribe((change) => this.#onPush(change), { name: this.name });
      try {
        const issued = this.#viewChanges;
        const data = await this.#store.getState(this.name);
        if (data !== undefined) this.#applyRead(data, issued);
        else this.#confirmedVersion = Math.max(this.#confirmedVersion, 0);
      } catch (error) {
        this.#errorListeners?.emit({ name: this.name, operation: 'load', error });
      }
      this.#lastRefresh = this.#clock.now();
      this.#loaded = true;
      // Loaded for good: nothing awaits this promise again, so an idle breaker does not keep it.
      this.#loading = null;
    })();
    return this.#loading;
  }

  #refresh(now: number): void {
    if (this.#refreshing) return;
    this.#refreshing = true;
    this.#lastRefresh = now;
    const issued = this.#viewChanges;
    this.#store.getState(this.name).then(
      (data) => {
        this.#refreshing = false;
        this.#applyRead(data, issued);
      },
      (error: unknown) => {
        this.#refreshing = false;
        this.#errorListeners?.emit({ name: this.name, operation: 'refresh', error });
      },
    );
  }

  /** Re-reads the circuit from the store now and returns the refreshed view. */
  async refresh(): Promise<CircuitStateData> {
    if (!this.#loaded) await this.#load();
    this.#lastRefresh = this.#clock.now();
    const issued = this.#viewChanges;
    const data = await this.#store.getState(this.name);
    this.#applyRead(data, issued);
    return this.#view;
  }

  /**
   * Applies what a read returned. A read issued before the view last changed (a local outcome, a
   * write's reply, a push) may predate that change: then only strictly newer data is taken, and an
   * absent circuit is not taken at all.
   */
  #applyRead(data: CircuitStateData | undefined, issued: number): void {
    const raced = this.#viewChanges !== issued;
    if (data === undefined) {
      if (!raced && this.#inFlight === 0) this.#applyConfirmed(null, null);
      return;
    }
    if (raced && data.version <= this.#confirmedVersion) return;
    this.#applyConfirmed(data, null);
  }

  #reject(reason: RejectionReason, retryAt: number | null): Promise<TFallback> {
    return this.#fail(withoutStack(() => new CircuitOpenError(this.name, reason, retryAt)));
  }

  async #fail(error: unknown): Promise<TFallback> {
    if (this.#fallback === null) throw error;
    return this.#fallback(error);
  }

  #jitter(): number {
    return this.policy.jitterRatio === 0 ? 0 : Math.floor(this.#unit() * JITTER_SCALE);
  }

  /**
   * The `random` option's next value, held to [0, 1): a value outside it (NaN, say) counts as 0, so
   * that jitter and lease ids stay well-formed and every store computes the same open period.
   */
  #unit(): number {
    const value = this.#random();
    return value >= 0 && value < 1 ? value : 0;
  }

  #nextLeaseId(): string {
    leaseCounter += 1;
    return `${Math.floor(this.#unit() * 2 ** 48).toString(36)}.${leaseCounter}`;
  }

  /**
   * Forces the circuit open across every instance sharing the store, until cleared or `durationMs`.
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
    const data = await this.#store.override(this.name, null, this.policy);
    this.#applyConfirmed(data, 'override_cleared', this.#storeClock.now());
    return this.#view;
  }

  /** Closes the circuit and clears counters, backoff, probes and any override. */
  async reset(): Promise<CircuitStateData> {
    await this.#flushPending();
    const data = await this.#store.reset(this.name, this.policy);
    this.#applyConfirmed(data, 'reset', this.#storeClock.now());
    return this.#view;
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
    const data = await this.#store.override(
      this.name,
      { mode, reason: options.reason ?? null, durationMs },
      this.policy,
    );
    this.#applyConfirmed(data, mode, this.#storeClock.now());
    return this.#view;
  }

  /** Sends outcomes still batched for the sliding window and waits for every write in flight. */
  async flush(): Promise<void> {
    await this.#flushPending();
    if (this.#writes !== null) await Promise.allSettled([...this.#writes]);
  }

  /** Listens for status changes of this breaker's view. */
  onStateChange(listener: (event: StateChangeEvent) => void): Disposable {
    this.#stateListeners ??= new Listeners();
    return this.#stateListeners.add(listener);
  }

  /** Listens for store failures the breaker absorbed. */
  onStoreError(listener: (event: StoreErrorEvent) => void): Disposable {
    this.#errorListeners ??= new Listeners();
    return this.#errorListeners.add(listener);
  }

  /** Sends batched outcomes, waits for writes in flight, stops listening to the store. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#signal !== null)
      CircuitBreaker.#bySignal.get(this.#signal)?.delete(this as CircuitBreaker<unknown>);
    await this.flush();
    this.#subscription?.dispose();
    this.#subscription = null;
    this.#stateListeners = null;
    this.#errorListeners = null;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

interface PendingBatch {
  readonly builder: OutcomeBatchBuilder;
  readonly detector: TripDetector;
  readonly jitter: number;
  timer: TimerHandle | null;
}

/** On a shared store, the hot path checks the backstop refresh's clock once per this many calls. */
const CLOCK_CHECK_EVERY = 15;

/** Makes lease ids unique within the process (their random part makes them unique across it). */
let leaseCounter = 0;

/** The view of every breaker before its first read: shared, since views are replaced, never mutated. */
const UNLOADED_VIEW: CircuitStateData = Object.freeze(createInitialState(0));

const SUCCESS: CallOutcome = Object.freeze({ kind: 'success' });
const FAILURE: CallOutcome = Object.freeze({ kind: 'failure' });

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as PromiseLike<T>).then === 'function'
  );
}

/** The caller's signal aborted the call. */
class CallerAbort {
  constructor(readonly reason: unknown) {}
}

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

import { type Clock, createOptionsReader, systemClock, type TimerProvider } from '@xnai/kit';
import type { CallTimeoutError } from './errors/call-timeout-error.js';
import { type CircuitPolicyOptions, DEFAULT_POLICY } from './policy.js';
import type { CircuitStateStore, OutcomeKind, RejectionReason } from './store.js';
import type { StateChangeEvent } from './view.js';

// A breaker's options, their defaults, and the per-call events it reports: what a caller of
// `CircuitBreaker` sees. Running the calls is circuit-breaker.ts.

/** What a breaker does with a call when its store cannot be reached to admit it. */
export type StoreFailureMode = 'fail-open' | 'fail-closed';

/**
 * Options of {@link CircuitBreaker}: the policy ({@link CircuitPolicyOptions}) plus the breaker's own.
 * Validated once, at construction; the defaults are {@link DEFAULT_CIRCUIT_BREAKER_OPTIONS}.
 */
export interface CircuitBreakerOptions<TFallback = never> extends CircuitPolicyOptions {
  /** The circuit's name: 1 to 256 UTF-8 bytes, no control characters, no lone surrogates. */
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
   * Source of randomness in [0, 1) for open-period jitter and probe lease ids. Checked once at
   * construction; a later value outside [0, 1) (NaN, say) counts as 0.
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
   * Backstop for a shared store whose pushes nobody verifies: the local view is re-read from the
   * store when it is older than this. A call on a closed circuit looks at the clock for it once every
   * 16 calls (reading the clock costs more than the rest of that path); other calls look every time.
   * Pushed changes keep the view fresher in between. A local store (which pushes every change
   * synchronously) is never re-read; a store that verifies its own push channel
   * (`store.verifiesPushes`: the Redis store checks its subscriber with one command per interval for
   * all its circuits, and re-reads them after a reconnect) is re-read per circuit only when this
   * option is given.
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
   * A signal for every call of this breaker (a service's shutdown, say). Once it aborts, new calls
   * and calls waiting for the store settle at once with its reason, calls under `callTimeoutMs`
   * settle at once, and calls whose `fn` is running count for nothing when they settle. `fn`
   * receives it when the call has no signal of its own and no timeout. However many breakers share
   * it, the signal gets one listener; a call costs an increment and a decrement of the in-flight
   * count its {@link CallGroup} keeps (benchmark row `call.breaker-signal`).
   * @default null
   */
  readonly signal?: AbortSignal | null;
  /**
   * A listener of every status change of this breaker, for its whole life: what
   * {@link CircuitBreaker.onStateChange} adds, but kept in the settings breakers configured alike
   * share, so that one function given to 100,000 breakers (a registry's relay) costs no listener
   * list and no subscription per breaker. A listener that throws does not stop the others; its error
   * is rethrown in a microtask.
   * @default null
   */
  readonly onStateChange?: ((event: StateChangeEvent) => void) | null;
}

/** Options of one call. */
export interface ExecuteOptions {
  /**
   * The call's own signal (a request's, say). Aborted before `fn` runs or while the call waits for
   * the store, it settles the call at once with its reason. Without a timeout, `fn` receives it as
   * it is and the breaker adds no listener to it: `fn` honours it, and an outcome that arrives after
   * it aborted counts for nothing. With `callTimeoutMs`, aborting it settles the call at once.
   * @default none (the breaker-wide `signal`, if any)
   */
  readonly signal?: AbortSignal;
}

/** Options of a manual override. */
export interface OverrideOptions {
  /**
   * Shown in status and events; at most 1,024 characters.
   * @default none (`null` in the stored override)
   */
  readonly reason?: string;
  /**
   * The override lapses after this long, on the store's clock.
   * @default none (until cleared or reset)
   */
  readonly durationMs?: number;
}

/** Why a call was refused without running: the circuit's state, or a store that could not admit it. */
export type CallRejectionReason = RejectionReason | 'store_unavailable';

/** One call through a breaker, as its per-call events report it. */
export type CallEvent =
  | {
      readonly type: 'success';
      readonly name: string;
      /** How long `fn` ran, in milliseconds (the clock's `monotonic()` when it has one). */
      readonly durationMs: number;
      /** The call was a half-open probe. */
      readonly probe: boolean;
    }
  | {
      readonly type: 'failure';
      readonly name: string;
      readonly durationMs: number;
      readonly probe: boolean;
      readonly error: unknown;
    }
  | {
      readonly type: 'timeout';
      readonly name: string;
      readonly durationMs: number;
      readonly probe: boolean;
      readonly error: CallTimeoutError;
    }
  | {
      readonly type: 'ignored';
      readonly name: string;
      readonly durationMs: number;
      readonly probe: boolean;
      /** `true` when a signal aborted the call; otherwise a classifier returned `ignored`. */
      readonly aborted: boolean;
      /** The abort reason, or what `fn` threw; `undefined` for an ignored value. */
      readonly error: unknown;
    }
  | {
      readonly type: 'rejected';
      readonly name: string;
      readonly durationMs: number;
      readonly reason: CallRejectionReason;
      /** Epoch ms at which the circuit may admit calls again, or `null` when unknown. */
      readonly retryAt: number | null;
    }
  | {
      readonly type: 'fallback';
      readonly name: string;
      readonly durationMs: number;
      /** What the fallback replaced: a rejection or a failure. */
      readonly error: unknown;
    };

/** @internal One kind of {@link CallEvent}. */
export type CallEventOf<K extends CallEvent['type']> = Extract<CallEvent, { type: K }>;

/** @internal The default classifiers: the call path recognises them and skips calling them. */
export const classifyAsFailure = (): OutcomeKind => 'failure';
/** @internal */
export const classifyAsSuccess = (): OutcomeKind => 'success';

/**
 * The defaults of {@link CircuitBreakerOptions}, frozen: the policy's ({@link DEFAULT_POLICY}) and the
 * breaker's own. `name` and `store` have none, and two defaults depend on other options:
 * `recordIntervalMs` (0 for a local store, 1000 for a shared one, so it is not in here) and
 * `probeLeaseMs` (30 000, or `callTimeoutMs` when that is larger).
 */
export const DEFAULT_CIRCUIT_BREAKER_OPTIONS: Readonly<
  Required<Omit<CircuitBreakerOptions, 'name' | 'store' | 'recordIntervalMs'>>
> = Object.freeze({
  ...DEFAULT_POLICY,
  callTimeoutMs: null,
  classifyError: classifyAsFailure,
  classifyResult: classifyAsSuccess,
  fallback: null,
  clock: systemClock,
  // Read at each call, so that a stubbed Math.random (a test's) reaches breakers.
  random: (): number => Math.random(),
  refreshIntervalMs: 5_000,
  onStoreFailure: 'fail-open',
  signal: null,
  onStateChange: null,
});

/** @internal Validates a breaker's options against {@link DEFAULT_CIRCUIT_BREAKER_OPTIONS}. */
export const readOptions = createOptionsReader(DEFAULT_CIRCUIT_BREAKER_OPTIONS, {
  extraKeys: ['name', 'store', 'recordIntervalMs'],
});

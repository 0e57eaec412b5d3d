import {
  assertFunction,
  assertInteger,
  assertKnownKeys,
  assertObject,
  CircuitBreaker,
  type CircuitPolicyOptions,
  type CircuitStateStore,
  type Clock,
  DEFAULT_POLICY,
  systemClock,
  type TimerProvider,
} from '@xnai/cb-core';
import { MemoryStateStore } from '@xnai/cb-store-memory';
import { parseRetryAfter } from './retry-after.js';

/**
 * Where breakers come from when they are not this package's own: a `CircuitBreakerRegistry` of
 * `@xnai/cb-registry` fits, so every origin's circuit is shared by the fleet through Redis and shows
 * in the registry's status and metrics.
 */
export interface BreakerProvider {
  registerCircuitBreaker(
    name: string,
    config?: CircuitPolicyOptions & { callTimeoutMs?: number | null },
  ): unknown;
  remove(name: string): Promise<boolean>;
}

/** Options of every origin's breaker (the policy of `@xnai/cb-core`, plus a per-call timeout). */
export interface OriginBreakerOptions extends CircuitPolicyOptions {
  /**
   * Per-request timeout: the request's signal aborts, the request counts as a failure and rejects
   * with `CallTimeoutError`. `null` for none.
   * @default null
   */
  readonly callTimeoutMs?: number | null;
}

/** Options of {@link createCircuitBreakerFetch}. */
export interface CircuitBreakerFetchOptions {
  /**
   * The `fetch` to wrap.
   * @default globalThis.fetch
   */
  readonly fetch?: typeof globalThis.fetch;
  /**
   * The state store of the origins' breakers. Give a shared store (the registry's state manager) to
   * share each origin's circuit across instances; or give `breakers` instead.
   * @default a new MemoryStateStore (this process only), closed by close()
   */
  readonly store?: CircuitStateStore;
  /** Registers each origin's breaker there instead of creating it (a `CircuitBreakerRegistry` fits). */
  readonly breakers?: BreakerProvider;
  /**
   * Policy of each origin's breaker.
   * @default the cb-core defaults: 5 consecutive failures open it for 60 s, growing to 300 s
   */
  readonly breaker?: OriginBreakerOptions;
  /**
   * Origins kept at most; beyond it the least recently used origin whose circuit is closed and idle
   * is dropped (the least recently used one, if none is).
   * @default 100
   */
  readonly maxOrigins?: number;
  /**
   * Put before the origin to name its circuit: `fetch:https://api.example.com`.
   * @default 'fetch:'
   */
  readonly namePrefix?: string;
  /**
   * Which responses count as failures. The response is returned to the caller either way.
   * @default status >= 500, or 429
   */
  readonly isFailure?: (response: Response) => boolean;
  /**
   * A failure response's `Retry-After` (seconds or HTTP-date) becomes the floor of the open period
   * when the circuit is open after it: the circuit is forced open until then. Capped at
   * `maxRetryAfterMs`.
   * @default true
   */
  readonly honourRetryAfter?: boolean;
  /**
   * Longest `Retry-After` honoured: a server cannot keep the circuit open longer than this.
   * @default the breaker's maxOpenTimeoutMs (300_000)
   */
  readonly maxRetryAfterMs?: number;
  /** @default systemClock */
  readonly clock?: Clock & TimerProvider;
}

/** A `fetch` with a circuit breaker per origin. */
export interface CircuitBreakerFetch {
  /**
   * `fetch(input, init)` through the origin's breaker. Resolves with the response, failure or not;
   * rejects as `fetch` does, and with `CircuitOpenError` (from `@xnai/cb-core`, with `retryAt`)
   * while the origin's circuit is open. The caller's signal (`init.signal`, or the `Request`'s) is
   * passed to `fetch`; aborting it counts for nothing.
   */
  (input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** The breaker of an origin (`https://api.example.com`), if it is kept now. */
  breaker(origin: string): CircuitBreaker<never> | undefined;
  /** The origins kept now, least recently used first. */
  readonly origins: readonly string[];
  /** Closes every breaker (and the store this package created). Idempotent. */
  close(): Promise<void>;
}

const OPTION_NAMES = new Set([
  'fetch',
  'store',
  'breakers',
  'breaker',
  'maxOrigins',
  'namePrefix',
  'isFailure',
  'honourRetryAfter',
  'maxRetryAfterMs',
  'clock',
]);

const defaultIsFailure = (response: Response): boolean => response.status >= 500 || response.status === 429;

interface Origin {
  readonly name: string;
  readonly breaker: CircuitBreaker<never>;
  inFlight: number;
}

function originOf(input: string | URL | Request): string {
  const url = typeof input === 'string' ? new URL(input) : input instanceof URL ? input : new URL(input.url);
  return url.origin;
}

/**
 * Creates a `fetch` with one circuit breaker per origin: responses with status 5xx or 429 and
 * network errors count as failures; a failing origin's calls are rejected with `CircuitOpenError`
 * while its circuit is open, without touching the network; `Retry-After` sets the floor of the open
 * period; the caller's signal reaches `fetch`.
 * @throws {TypeError | RangeError} an option is invalid, naming it and the value.
 * @example
 * ```ts
 * const fetchWithBreaker = createCircuitBreakerFetch({ breaker: { failureThreshold: 5, openTimeoutMs: 30_000 } });
 * const response = await fetchWithBreaker('https://api.example.com/orders', { signal });
 * ```
 */
export function createCircuitBreakerFetch(options: CircuitBreakerFetchOptions = {}): CircuitBreakerFetch {
  assertKnownKeys('options', assertObject('options', options), OPTION_NAMES);
  const baseFetch = options.fetch ?? globalThis.fetch;
  assertFunction('fetch', baseFetch);
  if (options.store !== undefined && options.breakers !== undefined) {
    throw new TypeError('give either store or breakers, not both');
  }
  const breakers = options.breakers;
  if (
    breakers !== undefined &&
    (typeof breakers?.registerCircuitBreaker !== 'function' || typeof breakers.remove !== 'function')
  ) {
    throw new TypeError('breakers must have registerCircuitBreaker(name, config) and remove(name)');
  }
  const ownStore = options.store === undefined && breakers === undefined ? new MemoryStateStore() : null;
  const store = options.store ?? ownStore;
  const breakerOptions = options.breaker === undefined ? {} : assertObject('breaker', options.breaker);
  const maxOrigins = assertInteger('maxOrigins', options.maxOrigins ?? 100, 1, 1_000_000);
  const namePrefix = options.namePrefix ?? 'fetch:';
  if (typeof namePrefix !== 'string')
    throw new TypeError(`namePrefix must be a string, got ${typeof namePrefix}`);
  const isFailure =
    options.isFailure === undefined
      ? defaultIsFailure
      : assertFunction<(response: Response) => boolean>('isFailure', options.isFailure);
  const honourRetryAfter = options.honourRetryAfter ?? true;
  if (typeof honourRetryAfter !== 'boolean') {
    throw new TypeError(`honourRetryAfter must be a boolean, got ${JSON.stringify(honourRetryAfter)}`);
  }
  const maxRetryAfterMs = assertInteger(
    'maxRetryAfterMs',
    options.maxRetryAfterMs ??
      (breakerOptions.maxOpenTimeoutMs as number | undefined) ??
      DEFAULT_POLICY.maxOpenTimeoutMs,
    1,
  );
  const clock = options.clock ?? systemClock;
  const classifyResult = (value: unknown) => (isFailure(value as Response) ? 'failure' : 'success');
  // Validates the policy once, up front, rather than on the first request to each origin.
  if (store !== null) {
    void new CircuitBreaker({ ...breakerOptions, name: 'fetch:validation', store, classifyResult }).close();
  }

  const origins = new Map<string, Origin>();
  let closed = false;

  const create = (origin: string): Origin => {
    const name = `${namePrefix}${origin}`;
    const breaker =
      breakers === undefined
        ? new CircuitBreaker<never>({
            ...(breakerOptions as OriginBreakerOptions),
            name,
            store: store as CircuitStateStore,
            clock,
            classifyResult,
          })
        : (breakers.registerCircuitBreaker(name, {
            ...(breakerOptions as OriginBreakerOptions),
            classifyResult,
          } as CircuitPolicyOptions) as CircuitBreaker<never>);
    return { name, breaker, inFlight: 0 };
  };

  /** Drops one origin other than `keep` (the one just added). */
  const evict = (keep: string): void => {
    let victim: [string, Origin] | undefined;
    for (const entry of origins) {
      if (entry[0] !== keep && entry[1].inFlight === 0 && entry[1].breaker.status === 'closed') {
        victim = entry;
        break;
      }
    }
    victim ??= [...origins].find((entry) => entry[0] !== keep);
    if (victim === undefined) return;
    const [origin, entry] = victim;
    origins.delete(origin);
    if (breakers !== undefined) breakers.remove(entry.name).catch(() => undefined);
    else {
      entry.breaker.close().catch(() => undefined);
      // Our own memory store: forget the state with the breaker, so memory stays bounded.
      if (ownStore !== null) ownStore.deleteState(entry.name).catch(() => undefined);
    }
  };

  const originEntry = (origin: string): Origin => {
    let entry = origins.get(origin);
    if (entry !== undefined) {
      // Most recently used last.
      origins.delete(origin);
      origins.set(origin, entry);
      return entry;
    }
    entry = create(origin);
    origins.set(origin, entry);
    if (origins.size > maxOrigins) evict(origin);
    return entry;
  };

  /** A failure response with Retry-After on a circuit that is open now: hold it open at least that long. */
  const applyRetryAfter = async (entry: Origin, response: Response): Promise<void> => {
    if (!honourRetryAfter || !isFailure(response)) return;
    const waitMs = parseRetryAfter(response.headers.get('retry-after'), clock.now());
    if (waitMs === null) return;
    const breaker = entry.breaker;
    if (breaker.status !== 'open') return;
    const floorMs = Math.min(waitMs, maxRetryAfterMs);
    const remainingMs = breaker.stateData.openUntil - clock.now();
    if (remainingMs >= floorMs) return;
    try {
      await breaker.forceOpen({
        reason: `Retry-After from ${response.url || 'the origin'}`,
        durationMs: floorMs,
      });
    } catch {
      // The store could not take the override: the circuit is still open for its own period.
    }
  };

  const wrapped = (async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    if (closed) throw new TypeError('this circuit breaker fetch was closed');
    const origin = originOf(input);
    const entry = originEntry(origin);
    const callerSignal = init?.signal ?? (input instanceof Request ? input.signal : undefined) ?? undefined;
    entry.inFlight += 1;
    try {
      const run = (signal: AbortSignal) => baseFetch(input, { ...init, signal });
      const response =
        callerSignal === undefined
          ? await entry.breaker.execute(run)
          : await entry.breaker.execute(run, { signal: callerSignal });
      await applyRetryAfter(entry, response);
      return response;
    } finally {
      entry.inFlight -= 1;
    }
  }) as CircuitBreakerFetch;

  Object.defineProperties(wrapped, {
    breaker: { value: (origin: string) => origins.get(new URL(origin).origin)?.breaker },
    origins: { get: () => [...origins.keys()] },
    close: {
      value: async (): Promise<void> => {
        if (closed) return;
        closed = true;
        const entries = [...origins.values()];
        origins.clear();
        if (breakers !== undefined) await Promise.all(entries.map((entry) => breakers.remove(entry.name)));
        else await Promise.all(entries.map((entry) => entry.breaker.close()));
        await ownStore?.close();
      },
    },
  });
  return wrapped;
}

/** What a simulated dependency does now; changed at run time from the dashboard or the admin API. */
export interface DependencyBehaviour {
  /** Share of calls that fail, 0 to 1. */
  readonly failureRate: number;
  /** Added to every call, in milliseconds. */
  readonly latencyMs: number;
  /** Up to this much more, drawn per call, in milliseconds. */
  readonly jitterMs: number;
}

/** The simulated dependencies of the app. */
export const DEPENDENCY_NAMES = ['database', 'externalApi', 'cache'] as const;
export type DependencyName = (typeof DEPENDENCY_NAMES)[number];

/** The error a simulated dependency fails with. */
export class SimulatedFailureError extends Error {
  override readonly name = 'SimulatedFailureError';
  readonly dependency: DependencyName;
  constructor(dependency: DependencyName) {
    super(`${dependency}: simulated failure`);
    this.dependency = dependency;
  }
}

const MAX_LATENCY_MS = 30_000;

/**
 * Checks a partial behaviour from a request body.
 * @returns the problem, or `null` when it is valid.
 */
export function findBehaviourProblem(input: unknown): string | null {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    return 'the body must be an object';
  for (const [key, value] of Object.entries(input)) {
    if (key === 'dependency') continue;
    if (key !== 'failureRate' && key !== 'latencyMs' && key !== 'jitterMs') {
      return `unknown field ${JSON.stringify(key)}`;
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) return `${key} must be a number`;
    if (key === 'failureRate' && (value < 0 || value > 1)) return 'failureRate must be between 0 and 1';
    if (key !== 'failureRate' && (value < 0 || value > MAX_LATENCY_MS)) {
      return `${key} must be between 0 and ${MAX_LATENCY_MS}`;
    }
  }
  return null;
}

function abortable(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0) return signal?.aborted ? Promise.reject(signal.reason) : Promise.resolve();
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A dependency whose failure rate and latency change at run time. A call waits the latency (and
 * stops waiting when its signal aborts, as a real client would), then fails with the failure rate.
 */
export class SimulatedDependency {
  readonly name: DependencyName;
  #behaviour: DependencyBehaviour;
  readonly #random: () => number;
  #calls = 0;
  #failures = 0;

  constructor(name: DependencyName, initial: DependencyBehaviour, random: () => number = Math.random) {
    this.name = name;
    this.#behaviour = initial;
    this.#random = random;
  }

  get behaviour(): DependencyBehaviour {
    return this.#behaviour;
  }

  /** Calls made and calls failed since start. */
  get stats(): { readonly calls: number; readonly failures: number } {
    return { calls: this.#calls, failures: this.#failures };
  }

  /** @throws {RangeError} the change is invalid. */
  configure(change: Partial<DependencyBehaviour>): DependencyBehaviour {
    const problem = findBehaviourProblem(change);
    if (problem !== null) throw new RangeError(problem);
    this.#behaviour = { ...this.#behaviour, ...change };
    return this.#behaviour;
  }

  /**
   * One call: `produce()` after the latency, or a {@link SimulatedFailureError}.
   * @throws the signal's reason when it aborts first.
   */
  async call<T>(produce: () => T, signal?: AbortSignal): Promise<T> {
    const { failureRate, latencyMs, jitterMs } = this.#behaviour;
    this.#calls += 1;
    await abortable(latencyMs + (jitterMs > 0 ? this.#random() * jitterMs : 0), signal);
    if (failureRate > 0 && this.#random() < failureRate) {
      this.#failures += 1;
      throw new SimulatedFailureError(this.name);
    }
    return produce();
  }
}

/** The healthy starting point of each dependency. */
export const HEALTHY: Readonly<Record<DependencyName, DependencyBehaviour>> = Object.freeze({
  database: Object.freeze({ failureRate: 0, latencyMs: 15, jitterMs: 10 }),
  externalApi: Object.freeze({ failureRate: 0, latencyMs: 40, jitterMs: 30 }),
  cache: Object.freeze({ failureRate: 0, latencyMs: 2, jitterMs: 2 }),
});

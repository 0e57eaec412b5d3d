import { Listeners, toDisposable } from '@xnai/kit';
import type { CircuitStateData } from '../circuit-state.js';
import { StoreUnavailableError } from '../errors/store-unavailable-error.js';
import type { RecordedOutcomes } from '../outcome-batch.js';
import type { CircuitPolicy } from '../policy.js';
import type {
  AcquireRequest,
  AcquireResult,
  CircuitStateChange,
  CircuitStateStore,
  Disposable,
  OverrideRequest,
} from '../store.js';
import { type CircuitEvent, type TransitionResult, transition } from '../transition.js';

/**
 * A test double of a shared store: the real transition function over a Map, with injectable latency
 * and failures, and an operation log. It lets the breaker tests see exactly which store calls a
 * breaker makes and what happens when the store is slow or down.
 */
export class ScriptedStore implements CircuitStateStore {
  readonly specificationVersion = 'v1' as const;
  readonly local: boolean;
  latencyMs = 0;
  failing = false;
  readonly operations: string[] = [];
  readonly states = new Map<string, CircuitStateData>();
  readonly #listeners = new Listeners<CircuitStateChange>();

  readonly verifiesPushes: boolean;
  readonly deferredWritesPerSecond?: number;

  constructor(options: { local?: boolean; verifiesPushes?: boolean; deferredWritesPerSecond?: number } = {}) {
    this.local = options.local ?? false;
    this.verifiesPushes = options.verifiesPushes ?? false;
    if (options.deferredWritesPerSecond !== undefined) {
      this.deferredWritesPerSecond = options.deferredWritesPerSecond;
    }
  }

  async #io<T>(operation: string, work: () => T): Promise<T> {
    this.operations.push(operation);
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    if (this.failing) throw new StoreUnavailableError(`scripted store is down (${operation})`);
    return work();
  }

  /** Applies an event as another instance would, announcing transitions. */
  applyNow(name: string, event: CircuitEvent, policy: CircuitPolicy): CircuitStateData {
    return this.#apply(name, event, policy).state;
  }

  #apply(name: string, event: CircuitEvent, policy: CircuitPolicy): TransitionResult {
    const result = transition(this.states.get(name), event, policy, Date.now());
    if (result.changed) {
      this.states.set(name, result.state);
      if (result.transition !== null || result.notify) {
        this.#listeners.emit({
          name,
          version: result.state.version,
          state: result.state,
          transition: result.transition,
        });
      }
    }
    return result;
  }

  getState(name: string): Promise<CircuitStateData | undefined> {
    // The server answers from the state it has when the read arrives; only the reply is delayed.
    const snapshot = this.states.get(name);
    return this.#io('getState', () => snapshot);
  }
  setState(name: string, data: CircuitStateData): Promise<boolean> {
    return this.#io('setState', () => {
      this.states.set(name, data);
      return true;
    });
  }
  deleteState(name: string): Promise<boolean> {
    return this.#io('deleteState', () => {
      const existed = this.states.delete(name);
      this.#listeners.emit({ name, version: 0, state: null, transition: null });
      return existed;
    });
  }
  getAllStates(): Promise<Map<string, CircuitStateData>> {
    return this.#io('getAllStates', () => new Map(this.states));
  }
  acquire(name: string, policy: CircuitPolicy, request: AcquireRequest): Promise<AcquireResult> {
    return this.#io('acquire', () => {
      const result = this.#apply(
        name,
        { type: 'acquire', leaseId: request.leaseId, jitter: request.jitter ?? 0 },
        policy,
      );
      if (result.admission === null) throw new Error('acquire without admission');
      return { admission: result.admission, state: result.state };
    });
  }
  /** What each `record` carried, in order. */
  readonly recorded: RecordedOutcomes[] = [];
  record(
    name: string,
    outcomes: RecordedOutcomes,
    policy: CircuitPolicy,
    jitter = 0,
  ): Promise<CircuitStateData> {
    this.recorded.push(outcomes);
    return this.#io('record', () => this.applyNow(name, { type: 'record', outcomes, jitter }, policy));
  }
  override(name: string, override: OverrideRequest | null, policy: CircuitPolicy): Promise<CircuitStateData> {
    return this.#io('override', () => this.applyNow(name, { type: 'override', override }, policy));
  }
  reset(name: string, policy: CircuitPolicy): Promise<CircuitStateData> {
    return this.#io('reset', () => this.applyNow(name, { type: 'reset' }, policy));
  }
  subscribe(listener: (change: CircuitStateChange) => void): Disposable {
    this.operations.push('subscribe');
    const subscription = this.#listeners.add(listener);
    return toDisposable(() => {
      this.operations.push('unsubscribe');
      subscription.dispose();
    });
  }
  async close(): Promise<void> {}
}

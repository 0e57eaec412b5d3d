import type { TimerHandle, TimerProvider } from '@xnai/kit';

/** A batch waiting for its turn: flushed (sent) when the budget reaches it. */
export interface DeferredWrite {
  /** Monotonic ms before which the batch is not sent (it is still collecting outcomes). */
  readonly dueAt: number;
  /** Sends the batch; called at most once per enqueue. */
  flush(): void;
}

/**
 * Paces the deferred writes (sliding-window batches) of every breaker on one store: at most
 * `perSecond` of them are sent per second, all circuits together, in the order they became due; a
 * batch that must go at once (it trips the circuit) leaves the queue and goes without waiting. So a
 * store's write rate at rest is bounded by the budget whatever the number of circuits; what grows
 * with circuits is how old the fleet's window data may be: `max(recordIntervalMs, queued / perSecond)`.
 *
 * One timer for the whole store, armed only while something waits.
 */
export class WriteBudget {
  static readonly #budgets = new WeakMap<object, WeakMap<TimerProvider, WriteBudget>>();
  readonly #perSecond: number;
  readonly #timers: TimerProvider;
  readonly #now: () => number;
  /** Insertion order is due order (every breaker of a store enqueues with its own fixed delay). */
  readonly #queue = new Set<DeferredWrite>();
  #timer: TimerHandle | null = null;
  #timerAt = 0;
  #lastSentAt = Number.NEGATIVE_INFINITY;

  private constructor(perSecond: number, timers: TimerProvider, now: () => number) {
    this.#perSecond = perSecond;
    this.#timers = timers;
    this.#now = now;
  }

  /** The budget of `store` on these timers (created on first use). */
  static of(store: object, perSecond: number, timers: TimerProvider, now: () => number): WriteBudget {
    let byTimers = WriteBudget.#budgets.get(store);
    if (byTimers === undefined) {
      byTimers = new WeakMap();
      WriteBudget.#budgets.set(store, byTimers);
    }
    let budget = byTimers.get(timers);
    if (budget === undefined) {
      budget = new WriteBudget(perSecond, timers, now);
      byTimers.set(timers, budget);
    }
    return budget;
  }

  /** Writes waiting. */
  get size(): number {
    return this.#queue.size;
  }

  enqueue(write: DeferredWrite): void {
    this.#queue.add(write);
    this.#arm();
  }

  /** Takes a write out of the queue (it was sent another way); `true` when it was queued. */
  delete(write: DeferredWrite): boolean {
    return this.#queue.delete(write);
  }

  #arm(): void {
    const next = this.#queue.values().next();
    if (next.done === true) return;
    const at = Math.max(next.value.dueAt, this.#lastSentAt + 1_000 / this.#perSecond);
    if (this.#timer !== null) {
      if (this.#timerAt <= at) return;
      this.#timers.clearTimeout(this.#timer);
    }
    this.#timerAt = at;
    this.#timer = this.#timers.setTimeout(() => this.#fire(), Math.max(0, at - this.#now()));
  }

  #fire(): void {
    this.#timer = null;
    const next = this.#queue.values().next();
    if (next.done === true) return;
    const write = next.value;
    const now = this.#now();
    if (write.dueAt <= now && now >= this.#lastSentAt + 1_000 / this.#perSecond - 1) {
      this.#queue.delete(write);
      this.#lastSentAt = now;
      write.flush();
    }
    this.#arm();
  }
}

import { type Clock, monotonicNow, type TimerHandle, type TimerProvider } from '@xnai/kit';
import { OutcomeBatchBuilder, TripDetector } from './outcome-batch.js';
import type { CircuitPolicy } from './policy.js';
import type { CallOutcome, OutcomeKind, ProbeTicket } from './store.js';
import type { CircuitView } from './view.js';
import type { DeferredWrite, WriteBudget } from './write-budget.js';

interface PendingBatch extends DeferredWrite {
  readonly builder: OutcomeBatchBuilder;
  readonly detector: TripDetector;
  readonly jitter: number;
  timer: TimerHandle | null;
}

const SUCCESS: CallOutcome = Object.freeze({ kind: 'success' });
const FAILURE: CallOutcome = Object.freeze({ kind: 'failure' });

/**
 * Hands a breaker's outcomes to its store without delaying the caller, moving the view at once:
 *
 * 1. a probe's outcome goes at once with its lease: it decides the half-open round;
 * 2. an `ignored` outcome, or any outcome once the view has left `closed`, is dropped; a success with
 *    nothing to reset (no sliding window, no failure counted) writes nothing — the hot path;
 * 3. anything else is applied to the view first (an optimistic local transition), then sent;
 * 4. with a sliding window on a shared store, outcomes are collected for `recordIntervalMs` into one
 *    reduced batch, each judged at once against the view plus the batch, and the outcome that trips
 *    the view flushes the batch immediately. When the store has a write budget
 *    (`deferredWritesPerSecond`), a batch that trips nothing then waits for its turn in the store's
 *    {@link WriteBudget}, shared by every breaker on it.
 *
 * Created on a breaker's first outcome that writes (an idle breaker has none).
 */
export class OutcomeRecorder {
  readonly #view: CircuitView;
  readonly #policy: CircuitPolicy;
  readonly #storeClock: Clock;
  readonly #timers: TimerProvider;
  readonly #recordIntervalMs: number;
  readonly #jitter: () => number;
  readonly #budget: WriteBudget | null;
  readonly #clock: Clock;
  #pending: PendingBatch | null = null;

  constructor(
    view: CircuitView,
    policy: CircuitPolicy,
    storeClock: Clock,
    clock: Clock & TimerProvider,
    recordIntervalMs: number,
    jitter: () => number,
    budget: WriteBudget | null,
  ) {
    this.#view = view;
    this.#policy = policy;
    this.#storeClock = storeClock;
    this.#timers = clock;
    this.#clock = clock;
    this.#recordIntervalMs = recordIntervalMs;
    this.#jitter = jitter;
    this.#budget = budget;
  }

  /** Whether an outcome needs the recorder at all: false for the hot path's success. */
  static writes(
    kind: OutcomeKind,
    probe: ProbeTicket | null,
    view: CircuitView,
    policy: CircuitPolicy,
  ): boolean {
    if (probe !== null) return true;
    if (kind === 'ignored') return false;
    const data = view.data;
    if (data.state !== 'closed' || data.override !== null) return false;
    return kind === 'failure' || policy.slidingWindow !== null || data.failureCount > 0;
  }

  record(kind: OutcomeKind, probe: ProbeTicket | null, slow: boolean): void {
    const view = this.#view;
    if (probe !== null) {
      const outcomes = [{ kind, slow, probe }];
      const jitter = this.#jitter();
      view.applyLocally(outcomes, jitter);
      view.send(outcomes, jitter);
      return;
    }
    if (!OutcomeRecorder.writes(kind, null, view, this.#policy)) return;
    const windowed = this.#policy.slidingWindow !== null;
    if (!windowed || this.#recordIntervalMs === 0) {
      const outcome: CallOutcome = slow ? { kind, slow } : kind === 'success' ? SUCCESS : FAILURE;
      const jitter = this.#jitter();
      view.applyLocally([outcome], jitter);
      view.send([outcome], jitter);
      return;
    }
    let pending = this.#pending;
    if (pending === null) {
      const budget = this.#budget;
      const batch: PendingBatch = {
        builder: new OutcomeBatchBuilder(this.#policy),
        detector: new TripDetector(this.#policy),
        jitter: this.#jitter(),
        timer: null,
        dueAt: budget === null ? 0 : monotonicNow(this.#clock) + this.#recordIntervalMs,
        flush: () => {
          if (this.#pending === batch) void this.flushPending();
        },
      };
      if (budget === null) {
        batch.timer = this.#timers.setTimeout(() => {
          batch.timer = null;
          batch.flush();
        }, this.#recordIntervalMs);
      } else {
        budget.enqueue(batch);
      }
      this.#pending = batch;
      pending = batch;
    }
    const failed = kind === 'failure';
    pending.builder.add(failed, slow);
    const now = this.#policy.slidingWindow?.type === 'time' ? this.#storeClock.now() : 0;
    if (pending.detector.add(view.data, pending.builder, failed, slow, now)) this.flushPending();
  }

  /** Sends the batch being collected, if any; the view takes it now. */
  flushPending(): Promise<void> {
    const pending = this.#pending;
    if (pending === null) return Promise.resolve();
    this.#pending = null;
    if (pending.timer !== null) this.#timers.clearTimeout(pending.timer);
    this.#budget?.delete(pending);
    const batch = pending.builder.build();
    this.#view.applyLocally(batch, pending.jitter);
    return this.#view.send(batch, pending.jitter);
  }
}

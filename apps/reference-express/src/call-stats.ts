import type { CallEvent } from '@xnai/cb-core';

/** Outcomes the charts count, as the breakers' per-call events name them. */
export const OUTCOMES = ['success', 'failure', 'timeout', 'rejected', 'fallback', 'ignored'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Options of {@link CallStats}. */
export interface CallStatsOptions {
  /** @default 5000 */
  readonly bucketMs?: number;
  /** Buckets kept: the charts show `bucketMs × bucketCount`. @default 60 (5 minutes) */
  readonly bucketCount?: number;
  /** Durations kept per bucket and circuit for the p99 (a uniform sample beyond). @default 2000 */
  readonly maxSamples?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** @default Math.random */
  readonly random?: () => number;
}

interface Bucket {
  readonly start: number;
  readonly counts: Record<Outcome, number>;
  /** Durations of the calls that ran (success, failure, timeout). */
  readonly durations: number[];
  /** Calls that ran, sampled or not. */
  ran: number;
}

/** One circuit's series, oldest bucket first. */
export interface CircuitSeries {
  readonly counts: Readonly<Record<Outcome, readonly number[]>>;
  /** p99 duration of the calls that ran, in ms; `null` for a bucket without any. */
  readonly p99Ms: readonly (number | null)[];
}

/** What the charts draw: bucket start times and each circuit's series. */
export interface CallSeries {
  readonly bucketMs: number;
  readonly starts: readonly number[];
  readonly circuits: Readonly<Record<string, CircuitSeries>>;
}

/** The `q` quantile of `values` (nearest rank), or `null` when there are none. */
export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? null;
}

function emptyCounts(): Record<Outcome, number> {
  return { success: 0, failure: 0, timeout: 0, rejected: 0, fallback: 0, ignored: 0 };
}

/**
 * Calls by outcome and p99 latency per circuit over the last minutes, in fixed time buckets, fed
 * with the registry's per-call events. Memory is bounded: buckets × circuits × `maxSamples`.
 */
export class CallStats {
  readonly bucketMs: number;
  readonly bucketCount: number;
  readonly #maxSamples: number;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #circuits = new Map<string, Bucket[]>();

  constructor(options: CallStatsOptions = {}) {
    this.bucketMs = options.bucketMs ?? 5_000;
    this.bucketCount = options.bucketCount ?? 60;
    this.#maxSamples = options.maxSamples ?? 2_000;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** Counts one call event. */
  record(event: CallEvent): void {
    const bucket = this.#bucket(event.name);
    bucket.counts[event.type] += 1;
    if (event.type !== 'success' && event.type !== 'failure' && event.type !== 'timeout') return;
    bucket.ran += 1;
    if (bucket.durations.length < this.#maxSamples) bucket.durations.push(event.durationMs);
    else {
      // Reservoir sampling: every call that ran has the same chance to be in the sample.
      const slot = Math.floor(this.#random() * bucket.ran);
      if (slot < this.#maxSamples) bucket.durations[slot] = event.durationMs;
    }
  }

  #currentStart(): number {
    return Math.floor(this.#now() / this.bucketMs) * this.bucketMs;
  }

  #bucket(name: string): Bucket {
    const start = this.#currentStart();
    let buckets = this.#circuits.get(name);
    if (buckets === undefined) {
      buckets = [];
      this.#circuits.set(name, buckets);
    }
    const last = buckets.at(-1);
    if (last !== undefined && last.start === start) return last;
    const bucket: Bucket = { start, counts: emptyCounts(), durations: [], ran: 0 };
    buckets.push(bucket);
    const oldest = start - (this.bucketCount - 1) * this.bucketMs;
    while (buckets.length > 0 && (buckets[0]?.start ?? 0) < oldest) buckets.shift();
    return bucket;
  }

  /** The series of every circuit seen, over the last `bucketCount` buckets up to now. */
  series(): CallSeries {
    const current = this.#currentStart();
    const starts = Array.from(
      { length: this.bucketCount },
      (_, index) => current - (this.bucketCount - 1 - index) * this.bucketMs,
    );
    const circuits: Record<string, CircuitSeries> = {};
    for (const [name, buckets] of this.#circuits) {
      const byStart = new Map(buckets.map((bucket) => [bucket.start, bucket]));
      const counts = Object.fromEntries(
        OUTCOMES.map((outcome) => [outcome, starts.map((start) => byStart.get(start)?.counts[outcome] ?? 0)]),
      ) as Record<Outcome, number[]>;
      const p99Ms = starts.map((start) => {
        const value = quantile(byStart.get(start)?.durations ?? [], 0.99);
        return value === null ? null : Math.round(value * 10) / 10;
      });
      circuits[name] = { counts, p99Ms };
    }
    return { bucketMs: this.bucketMs, starts, circuits };
  }
}

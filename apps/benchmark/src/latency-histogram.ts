/** Smallest latency a bucket tells apart, in milliseconds (0.1 µs). */
const FLOOR_MS = 0.0001;
/** Buckets per doubling: each bucket spans 2^(1/16) ≈ 4.4 %, so a percentile is within ±2.2 %. */
const PER_OCTAVE = 16;
/** 0.1 µs × 2^32 ≈ 430 s: anything longer lands in the last bucket (its exact max is kept). */
const BUCKETS = 1 + 32 * PER_OCTAVE;

/** Summary of a histogram: what rows and the JSON file report. */
export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/**
 * Call latencies in log-spaced buckets: constant memory and a few nanoseconds per sample, so an
 * instance making thousands of calls a second can record every one of them.
 */
export class LatencyHistogram {
  readonly #counts = new Uint32Array(BUCKETS);
  #count = 0;
  #maxMs = 0;

  get count(): number {
    return this.#count;
  }

  record(ms: number): void {
    const index =
      ms <= FLOOR_MS ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log2(ms / FLOOR_MS) * PER_OCTAVE));
    this.#counts[index] = (this.#counts[index] as number) + 1;
    this.#count += 1;
    if (ms > this.#maxMs) this.#maxMs = ms;
  }

  /** Adds every sample of `other` (from this process or from {@link toSparse} of another). */
  merge(other: LatencyHistogram | SparseHistogram): void {
    const sparse = other instanceof LatencyHistogram ? other.toSparse() : other;
    for (const [index, count] of sparse.buckets) {
      this.#counts[index] = (this.#counts[index] as number) + count;
      this.#count += count;
    }
    if (sparse.maxMs > this.#maxMs) this.#maxMs = sparse.maxMs;
  }

  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#maxMs = 0;
  }

  /** Nearest-rank percentile, `p` in (0, 100]: the geometric middle of the bucket holding that rank. */
  percentile(p: number): number {
    if (this.#count === 0) return Number.NaN;
    const rank = Math.min(this.#count, Math.max(1, Math.ceil((p / 100) * this.#count)));
    let seen = 0;
    for (let index = 0; index < BUCKETS; index += 1) {
      seen += this.#counts[index] as number;
      if (seen >= rank) return Math.min(this.#maxMs, bucketMiddle(index));
    }
    return this.#maxMs;
  }

  summary(): LatencySummary {
    return {
      count: this.#count,
      p50Ms: this.percentile(50),
      p99Ms: this.percentile(99),
      maxMs: this.#count === 0 ? Number.NaN : this.#maxMs,
    };
  }

  /** The non-empty buckets, small enough to send over IPC. */
  toSparse(): SparseHistogram {
    const buckets: Array<[number, number]> = [];
    for (let index = 0; index < BUCKETS; index += 1) {
      const count = this.#counts[index] as number;
      if (count > 0) buckets.push([index, count]);
    }
    return { buckets, maxMs: this.#maxMs };
  }
}

/** A histogram as plain data: `[bucket index, count]` pairs. */
export interface SparseHistogram {
  readonly buckets: ReadonlyArray<readonly [number, number]>;
  readonly maxMs: number;
}

function bucketMiddle(index: number): number {
  if (index === 0) return FLOOR_MS;
  return FLOOR_MS * 2 ** ((index - 0.5) / PER_OCTAVE);
}

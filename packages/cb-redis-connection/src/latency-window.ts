/** Latencies of the most recent operations, for p50/p99 in the health status. */
export class LatencyWindow {
  readonly #samples: Float64Array;
  #next = 0;
  #count = 0;

  constructor(capacity = 1024) {
    this.#samples = new Float64Array(capacity);
  }

  record(latencyMs: number): void {
    this.#samples[this.#next] = latencyMs;
    this.#next = (this.#next + 1) % this.#samples.length;
    if (this.#count < this.#samples.length) this.#count += 1;
  }

  get count(): number {
    return this.#count;
  }

  /** Nearest-rank percentile (0 < p ≤ 100) of the window, or `null` when it is empty. */
  percentile(p: number): number | null {
    if (this.#count === 0) return null;
    const sorted = this.#samples.slice(0, this.#count).sort();
    const rank = Math.min(this.#count, Math.max(1, Math.ceil((p / 100) * this.#count)));
    return sorted[rank - 1] ?? null;
  }
}

/**
 * A histogram kept as plain numbers: one counter per bucket (not cumulative), a sum and a count.
 * Observing is a short loop and two additions, with no label hashing, so it fits on a breaker's call
 * path; the exposition turns it into cumulative `_bucket` lines when Prometheus scrapes.
 */
export class HistogramData {
  readonly #bounds: readonly number[];
  /** counts[i] for bounds[i]; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  /** Largest observation since {@link takeMax} last ran (resilience4j's `_max`). */
  #max = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  get bounds(): readonly number[] {
    return this.#bounds;
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    let index = 0;
    while (index < bounds.length && value > (bounds[index] as number)) index += 1;
    this.counts[index] = (this.counts[index] as number) + 1;
    this.sum += value;
    this.count += 1;
    if (value > this.#max) this.#max = value;
  }

  /** The largest observation since the previous call, then starts over. */
  takeMax(): number {
    const max = this.#max;
    this.#max = 0;
    return max;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
    this.#max = 0;
  }
}

/** Validates bucket bounds: finite, positive, strictly increasing, at least one. */
export function assertBuckets(option: string, value: unknown): readonly number[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError(`${option} must be a non-empty array of numbers, got ${describe(value)}`);
  }
  let previous = 0;
  for (const bound of value) {
    if (typeof bound !== 'number' || !Number.isFinite(bound) || bound <= previous) {
      throw new RangeError(
        `${option} must hold finite, positive, strictly increasing numbers, got ${describe(value)}`,
      );
    }
    previous = bound;
  }
  return Object.freeze([...(value as number[])]);
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

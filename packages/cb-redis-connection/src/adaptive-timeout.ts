/**
 * The seed's adaptive connection timeout. Each consecutive failure multiplies the timeout by 1.5,
 * capped; one success restores the base.
 *
 * The seed's table (5 s, 7.5 s, 11.25 s, then 30 s "after 3+ failures") disagrees with its formula
 * (×1.5 per failure). We follow the formula: `min(base × 1.5^failures, max)`, so with the defaults
 * 5000, 7500, 11250, 16875, 25313, 30000 ms. The timeout grows smoothly instead of jumping to the cap.
 */
export class AdaptiveTimeout {
  static readonly MULTIPLIER = 1.5;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #enabled: boolean;
  #failures = 0;

  constructor(baseMs: number, maxMs: number, enabled: boolean) {
    this.#baseMs = baseMs;
    this.#maxMs = maxMs;
    this.#enabled = enabled;
  }

  /** The timeout to use for the next connection attempt. */
  get currentMs(): number {
    if (!this.#enabled) return this.#baseMs;
    return Math.round(Math.min(this.#baseMs * AdaptiveTimeout.MULTIPLIER ** this.#failures, this.#maxMs));
  }

  get failures(): number {
    return this.#failures;
  }

  recordFailure(): void {
    // Past the cap the count no longer matters; bounding it keeps the power finite.
    if (this.#failures < 64) this.#failures += 1;
  }

  recordSuccess(): void {
    this.#failures = 0;
  }
}

/**
 * Runs at most `limit` tasks at once; the others wait in arrival order. Stores use it for reads: a
 * burst (100,000 circuits registered at start, every circuit re-read after a reconnect) then
 * reaches the store as a steady stream, and no command waits in a client long enough to time out
 * (which a connection manager would take for an outage).
 *
 * @example
 * ```ts
 * const reads = new InFlightLimit(256);
 * const data = await reads.run(() => store.getState(name));
 * ```
 */
export class InFlightLimit {
  readonly #limit: number;
  #active = 0;
  /** Waiting tasks' starts: a queue with a moving head, so a long queue costs O(1) per task. */
  #waiting: Array<(() => void) | undefined> = [];
  #head = 0;

  /** @throws {RangeError} `limit` is not a positive integer. */
  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError(`limit must be a positive integer, got ${String(limit)}`);
    }
    this.#limit = limit;
  }

  /** Tasks running now. */
  get active(): number {
    return this.#active;
  }

  /** Tasks waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length - this.#head;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active < this.#limit) this.#active += 1;
    // The slot is handed over by #release, so `active` already counts this task.
    else await new Promise<void>((start) => this.#waiting.push(start));
    try {
      return await task();
    } finally {
      this.#release();
    }
  }

  #release(): void {
    if (this.#head < this.#waiting.length) {
      const start = this.#waiting[this.#head] as () => void;
      this.#waiting[this.#head] = undefined;
      this.#head += 1;
      if (this.#head === this.#waiting.length) {
        this.#waiting = [];
        this.#head = 0;
      } else if (this.#head > 1_024 && this.#head * 2 > this.#waiting.length) {
        this.#waiting = this.#waiting.slice(this.#head);
        this.#head = 0;
      }
      start();
      return;
    }
    this.#active -= 1;
  }
}

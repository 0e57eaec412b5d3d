interface Waiting {
  readonly start: () => void;
  readonly key: string | undefined;
  started: boolean;
}

/**
 * Runs at most `limit` tasks at once; the others wait in arrival order. Stores use it for reads: a
 * burst (100,000 circuits registered at start, every circuit re-read after a reconnect) then
 * reaches the store as a steady stream, and no command waits in a client long enough to time out
 * (which a connection manager would take for an outage).
 *
 * A task run with a key can be sent ahead of the queue with {@link expedite}: a call waiting for
 * its circuit's first read does not wait behind a burst of background reads.
 *
 * @example
 * ```ts
 * const reads = new InFlightLimit(256);
 * const data = await reads.run(() => store.getState(name), name);
 * reads.expedite(name); // a caller waits for it: start it now
 * ```
 */
export class InFlightLimit {
  readonly #limit: number;
  #active = 0;
  /** Waiting tasks: a queue with a moving head, so a long queue costs O(1) per task. */
  #waiting: Array<Waiting | undefined> = [];
  #head = 0;
  /** The first waiting task of each key given. */
  readonly #byKey = new Map<string, Waiting>();
  /** Expedited tasks whose entries still sit in the queue (skipped when their turn comes). */
  #expeditedInQueue = 0;

  /** @throws {RangeError} `limit` is not a positive integer. */
  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError(`limit must be a positive integer, got ${String(limit)}`);
    }
    this.#limit = limit;
  }

  /** Tasks running now (expedited ones may take it past the limit). */
  get active(): number {
    return this.#active;
  }

  /** Tasks waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length - this.#head - this.#expeditedInQueue;
  }

  async run<T>(task: () => Promise<T>, key?: string): Promise<T> {
    if (this.#active < this.#limit) this.#active += 1;
    // The slot is handed over by #release (or taken by expedite), so `active` already counts it.
    else await this.#wait(key);
    try {
      return await task();
    } finally {
      this.#release();
    }
  }

  /** Starts the first task waiting with `key` now, past the limit. No effect when none waits. */
  expedite(key: string): void {
    const entry = this.#byKey.get(key);
    if (entry === undefined) return;
    this.#byKey.delete(key);
    entry.started = true;
    this.#expeditedInQueue += 1;
    this.#active += 1;
    entry.start();
  }

  #wait(key: string | undefined): Promise<void> {
    return new Promise<void>((start) => {
      const entry: Waiting = { start, key, started: false };
      this.#waiting.push(entry);
      if (key !== undefined && !this.#byKey.has(key)) this.#byKey.set(key, entry);
    });
  }

  #release(): void {
    this.#active -= 1;
    while (this.#active < this.#limit && this.#head < this.#waiting.length) {
      const entry = this.#waiting[this.#head] as Waiting;
      this.#waiting[this.#head] = undefined;
      this.#head += 1;
      if (this.#head === this.#waiting.length) {
        this.#waiting = [];
        this.#head = 0;
      } else if (this.#head > 1_024 && this.#head * 2 > this.#waiting.length) {
        this.#waiting = this.#waiting.slice(this.#head);
        this.#head = 0;
      }
      if (entry.started) {
        this.#expeditedInQueue -= 1;
        continue;
      }
      if (entry.key !== undefined && this.#byKey.get(entry.key) === entry) this.#byKey.delete(entry.key);
      entry.started = true;
      this.#active += 1;
      entry.start();
    }
  }
}

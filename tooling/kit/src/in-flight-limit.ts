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
 * Tasks run with a key can be sent ahead with {@link expedite}: a call waiting for its circuit's
 * first read does not wait behind a burst of background reads. Expedited tasks start at once while
 * fewer than `limit` of them run past the limit; beyond that they wait ahead of the queue.
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
  /** Expedited tasks waiting for a slot (when `limit` expedited ones already run past the limit). */
  #urgent: Waiting[] = [];
  #urgentHead = 0;
  /** Waiting tasks by key (one, or several in arrival order). */
  readonly #byKey = new Map<string, Waiting | Waiting[]>();
  /** Entries still in the queue whose task was started by expedite (skipped when their turn comes). */
  #expeditedInQueue = 0;

  /** @throws {RangeError} `limit` is not a positive integer. */
  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError(`limit must be a positive integer, got ${String(limit)}`);
    }
    this.#limit = limit;
  }

  /** Tasks running now (expedited ones may take it up to twice the limit). */
  get active(): number {
    return this.#active;
  }

  /** Tasks waiting for a slot. */
  get waiting(): number {
    return (
      this.#waiting.length - this.#head - this.#expeditedInQueue + this.#urgent.length - this.#urgentHead
    );
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

  /**
   * Sends the tasks waiting with `key` ahead of the others: at once while fewer than `limit` run
   * past the limit, else first when a slot frees.
   * @returns how many tasks with `key` were waiting (0: none).
   */
  expedite(key: string): number {
    const entries = this.#byKey.get(key);
    if (entries === undefined) return 0;
    this.#byKey.delete(key);
    const all = Array.isArray(entries) ? entries : [entries];
    for (const entry of all) {
      // Its queue entry stays where it is, marked, and is skipped when its turn comes.
      entry.started = true;
      this.#expeditedInQueue += 1;
      if (this.#active < this.#limit * 2) {
        this.#active += 1;
        entry.start();
      } else {
        this.#urgent.push(entry);
      }
    }
    return all.length;
  }

  #wait(key: string | undefined): Promise<void> {
    return new Promise<void>((start) => {
      const entry: Waiting = { start, key, started: false };
      this.#waiting.push(entry);
      if (key === undefined) return;
      const existing = this.#byKey.get(key);
      if (existing === undefined) this.#byKey.set(key, entry);
      else if (Array.isArray(existing)) existing.push(entry);
      else this.#byKey.set(key, [existing, entry]);
    });
  }

  #forget(entry: Waiting): void {
    const key = entry.key;
    if (key === undefined) return;
    const existing = this.#byKey.get(key);
    if (existing === entry) this.#byKey.delete(key);
    else if (Array.isArray(existing)) {
      const index = existing.indexOf(entry);
      if (index >= 0) existing.splice(index, 1);
      if (existing.length === 0) this.#byKey.delete(key);
    }
  }

  #release(): void {
    this.#active -= 1;
    if (this.#urgentHead < this.#urgent.length) {
      // A queue with a moving head too: thousands of calls may wait on their first reads at once.
      const urgent = this.#urgent[this.#urgentHead] as Waiting;
      this.#urgentHead += 1;
      if (this.#urgentHead === this.#urgent.length) {
        this.#urgent = [];
        this.#urgentHead = 0;
      }
      this.#active += 1;
      urgent.start();
      return;
    }
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
      this.#forget(entry);
      entry.started = true;
      this.#active += 1;
      entry.start();
    }
  }
}

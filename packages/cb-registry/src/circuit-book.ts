import { Mutex } from 'async-mutex';

/** What the state manager keeps about one circuit, all in one place. */
export interface CircuitRecord {
  /** Highest version this instance handed to callers or subscribers (replies, pushes, reconciliations). */
  delivered: number;
  /** Version of the last copy Redis returned or pushed; `-1` before any. */
  redisVersion: number;
  /**
   * Highest version handed out from the mirror while Redis was unavailable. Until Redis holds a
   * version above it, views that saw it would ignore Redis's state as older.
   */
  fromMirror: number;
  /**
   * Set while the warm mirror holds changes Redis has not taken yet (made while Redis was unavailable,
   * or by an operation that failed): the Redis version those changes started from.
   */
  pendingFrom: number | null;
  /** Serializes the circuit's re-seed and reconciliation, which both read Redis, decide, then write. */
  lock: Mutex | null;
}

/**
 * The per-circuit bookkeeping of a state manager: one record per circuit it has touched or serves,
 * so that the pending flag, the versions and the lock never drift apart.
 */
export class CircuitBook {
  readonly #records = new Map<string, CircuitRecord>();

  /** The circuit's record, created on first use. */
  get(name: string): CircuitRecord {
    let record = this.#records.get(name);
    if (record === undefined) {
      record = { delivered: 0, redisVersion: -1, fromMirror: 0, pendingFrom: null, lock: null };
      this.#records.set(name, record);
    }
    return record;
  }

  /** The circuit's record, or `undefined` for a circuit this instance never touched. */
  peek(name: string): CircuitRecord | undefined {
    return this.#records.get(name);
  }

  /** Notes that `version` reached callers or subscribers. */
  delivered(name: string, version: number): void {
    const record = this.get(name);
    if (version > record.delivered) record.delivered = version;
  }

  /** Marks the circuit pending from the last Redis version seen, unless it already is. */
  markPending(name: string): void {
    const record = this.get(name);
    if (record.pendingFrom === null) record.pendingFrom = Math.max(record.redisVersion, 0);
  }

  isPending(name: string): boolean {
    return this.#records.get(name)?.pendingFrom != null;
  }

  /** Names with changes Redis has not taken yet, sorted. */
  pending(): string[] {
    const names: string[] = [];
    for (const [name, record] of this.#records) if (record.pendingFrom !== null) names.push(name);
    return names.sort();
  }

  /**
   * Runs `work` while holding the circuit's lock. The lock is dropped once nobody holds or awaits
   * it, so that a reconciliation of every served circuit leaves no mutex per circuit behind.
   */
  async exclusive<T>(name: string, work: () => Promise<T>): Promise<T> {
    const record = this.get(name);
    record.lock ??= new Mutex();
    const lock = record.lock;
    try {
      return await lock.runExclusive(work);
    } finally {
      if (record.lock === lock && !lock.isLocked()) record.lock = null;
    }
  }

  /** Drops the records of circuits for which `keep` says no (nothing mirrored, pending or served). */
  prune(keep: (name: string, record: CircuitRecord) => boolean): void {
    for (const [name, record] of this.#records) {
      if (record.pendingFrom === null && !record.lock?.isLocked() && !keep(name, record)) {
        this.#records.delete(name);
      }
    }
  }

  clear(): void {
    this.#records.clear();
  }
}

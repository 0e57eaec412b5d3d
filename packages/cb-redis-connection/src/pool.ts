import { type Clock, monotonicNow, type TimerHandle, type TimerProvider } from '@xnai/kit';
import type { Connection } from './connection.js';

/** What the pool needs from the manager. */
export interface PoolHost {
  readonly maxConnections: number;
  readonly idleConnectionTimeoutMs: number;
  readonly clock: Clock & TimerProvider;
  /** A new command connection, not connecting yet. */
  create(autoReconnect: boolean): Connection;
  /** The current (adaptive) connection timeout. */
  connectionTimeoutMs(): number;
  /** Whether Redis is usable right now; the pool only grows then. */
  canGrow(): boolean;
}

/**
 * The command connections (pool concern). It grows by one connection at a time, only on real
 * concurrency (every connection ready and busy), never because connections failed; and every
 * connection but the first closes after `idleConnectionTimeoutMs` without a command.
 */
export class ConnectionPool {
  readonly #host: PoolHost;
  #connections: Connection[] = [];
  #growing: Connection | undefined;
  #reaper: TimerHandle | undefined;

  constructor(host: PoolHost) {
    this.#host = host;
  }

  get size(): number {
    return this.#connections.length;
  }

  /** The first connection: the one `connect()` opens and that never closes for idleness. */
  get primary(): Connection | undefined {
    return this.#connections[0];
  }

  /** The first connection, created when there is none. */
  primaryOrCreate(autoReconnect: boolean): Connection {
    const primary = this.#connections[0];
    if (primary !== undefined) return primary;
    const connection = this.#host.create(autoReconnect);
    this.#connections.push(connection);
    return connection;
  }

  /**
   * The ready connection with the fewest commands waiting; one with a timed-out command still
   * pending is taken only when no other is ready (whatever is sent there queues behind it).
   */
  pick(): Connection | undefined {
    let best: Connection | undefined;
    for (const connection of this.#connections) {
      if (!connection.ready) continue;
      if (best === undefined || rank(connection) < rank(best)) best = connection;
    }
    return best;
  }

  /** Opens one more connection when even the least busy ready one has a command waiting. */
  maybeGrow(leastBusy: Connection): void {
    if (
      this.#growing !== undefined ||
      leastBusy.pending === 0 ||
      this.#connections.length >= this.#host.maxConnections ||
      !this.#host.canGrow() ||
      // A connection that is not ready (reconnecting after a fault) comes back by itself: opening
      // another one beside it would make faults, not load, grow the pool.
      this.#connections.some((connection) => !connection.ready || connection.stuck > 0)
    ) {
      return;
    }
    const connection = this.#host.create(true);
    this.#connections.push(connection);
    this.#growing = connection;
    const settle = () => {
      if (this.#growing === connection) this.#growing = undefined;
      connection.client.off('ready', settle);
      connection.client.off('end', settle);
      connection.client.off('close', settle);
    };
    connection.client.once('ready', settle);
    connection.client.once('end', settle);
    connection.client.once('close', settle);
    connection.connect(this.#host.connectionTimeoutMs()).catch(settle);
    this.noteUsed(connection);
  }

  /** Records use of `connection` (a command started or settled) and keeps the idle reaper armed. */
  noteUsed(connection: Connection): void {
    connection.lastUsedAt = monotonicNow(this.#host.clock);
    if (this.#reaper === undefined && this.#connections.length > 1) this.#armReaper();
  }

  #armReaper(): void {
    const { clock, idleConnectionTimeoutMs } = this.#host;
    let due = Number.POSITIVE_INFINITY;
    for (const connection of this.#connections.slice(1)) {
      due = Math.min(due, connection.lastUsedAt + idleConnectionTimeoutMs);
    }
    if (due === Number.POSITIVE_INFINITY) return;
    this.#reaper = clock.setTimeout(
      () => {
        this.#reaper = undefined;
        this.#reap();
      },
      Math.max(0, due - monotonicNow(clock)),
    );
  }

  /** Closes every connection but the first that has been idle for `idleConnectionTimeoutMs`. */
  #reap(): void {
    const now = monotonicNow(this.#host.clock);
    const limit = this.#host.idleConnectionTimeoutMs;
    const [primary, ...others] = this.#connections;
    if (primary === undefined) return;
    const keep: Connection[] = [primary];
    for (const connection of others) {
      if (connection.idle && now - connection.lastUsedAt >= limit && connection !== this.#growing) {
        void connection.close();
      } else {
        keep.push(connection);
      }
    }
    this.#connections = keep;
    if (keep.length > 1) this.#armReaper();
  }

  /** Every connection, for status and probes. */
  all(): readonly Connection[] {
    return this.#connections;
  }

  /** Empties the pool and closes every connection at once. */
  close(): Promise<void> {
    if (this.#reaper !== undefined) this.#host.clock.clearTimeout(this.#reaper);
    this.#reaper = undefined;
    const connections = this.#connections;
    this.#connections = [];
    this.#growing = undefined;
    return Promise.all(connections.map((connection) => connection.close())).then(() => undefined);
  }
}

/** Lower is better: first nothing stuck, then fewest waiting commands. */
function rank(connection: Connection): number {
  return (connection.stuck > 0 ? 1_000_000 : 0) + connection.pending;
}

import { monotonicNow, startDeadline, type Timing } from '@xnai/kit';
import type { Redis } from 'ioredis';
import type { Connection } from './connection.js';
import { RedisTimeoutError } from './errors/redis-timeout-error.js';

/** What running a command needs from the manager. */
export interface CommandHost extends Timing {
  /** A command started or settled on `connection` (keeps the pool's idle bookkeeping). */
  noteUsed(connection: Connection): void;
}

/** How one command on a connection ended. */
export type CommandResult<T> =
  | { readonly kind: 'value'; readonly value: T; readonly latencyMs: number }
  | { readonly kind: 'error'; readonly error: unknown; readonly latencyMs: number }
  | { readonly kind: 'timeout'; readonly error: RedisTimeoutError };

/**
 * Runs `operation` on `connection` under a stall-aware deadline (commands concern; see
 * {@link startDeadline}: a timer that a blocked event loop delayed is not taken for a slow Redis).
 * Never rejects. While the caller waits the command counts as `pending` on the connection; once
 * timed out, as `stuck` until it settles, so the pool neither routes to it first nor grows for it.
 */
export function runCommand<T>(
  connection: Connection,
  operation: (client: Redis) => Promise<T>,
  timeoutMs: number,
  host: CommandHost,
): Promise<CommandResult<T>> {
  const { clock } = host;
  return new Promise<CommandResult<T>>((resolve) => {
    const started = monotonicNow(clock);
    let settled = false;
    let timedOut = false;
    connection.pending += 1;
    host.noteUsed(connection);
    const finish = () => {
      if (timedOut) connection.stuck -= 1;
      else connection.pending -= 1;
      host.noteUsed(connection);
    };
    const deadline = startDeadline({
      timeoutMs,
      clock,
      isSettled: () => settled,
      onExpired: () => {
        settled = true;
        timedOut = true;
        connection.pending -= 1;
        connection.stuck += 1;
        resolve({ kind: 'timeout', error: new RedisTimeoutError(timeoutMs) });
      },
    });
    let pending: Promise<T>;
    try {
      pending = Promise.resolve(operation(connection.client));
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (value) => {
        finish();
        if (settled) return;
        settled = true;
        deadline.cancel();
        resolve({ kind: 'value', value, latencyMs: monotonicNow(clock) - started });
      },
      (error: unknown) => {
        finish();
        if (settled) return;
        settled = true;
        deadline.cancel();
        resolve({ kind: 'error', error, latencyMs: monotonicNow(clock) - started });
      },
    );
  });
}

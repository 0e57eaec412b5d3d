import { type Timing, withDeadline } from '@xnai/kit';
import type { Connection } from './connection.js';
import type { RedisManagerError } from './errors/redis-manager-error.js';
import { RedisTimeoutError } from './errors/redis-timeout-error.js';

/** Waits before `connect()`'s attempts, as in the seed: immediately, after 1 s, after 2 s. */
export const CONNECT_ATTEMPT_DELAYS_MS = [0, 1_000, 2_000] as const;

/** What the attempts need from the manager. */
export interface ConnectAttemptsHost extends Timing {
  readonly endpoint: string;
  /** The current (adaptive) connection timeout. */
  connectionTimeoutMs(): number;
  isClosed(): boolean;
  /** Sleeps, or returns early when the manager closes. */
  sleep(delayMs: number): Promise<void>;
  /** This package's error for whatever an attempt failed with. */
  toManagerError(raw: unknown): RedisManagerError;
  /** An attempt starts. */
  onAttemptStarted(): void;
  /** An attempt failed; `'stop'` ends the attempts at once (a failure that waiting does not fix). */
  onAttemptFailed(error: RedisManagerError): 'retry' | 'stop';
}

/** How `connect()`'s attempts ended. */
export type ConnectAttemptsResult =
  | { readonly kind: 'connected' }
  | { readonly kind: 'closed' }
  | { readonly kind: 'failed'; readonly error: RedisManagerError; readonly stopped: boolean };

/**
 * `connect()`'s attempts on the primary connection: at 0 s, 1 s and 2 s, each bounded by the current
 * connection timeout (the stall-aware deadline). An attempt whose deadline passed while ioredis still
 * waits (a handshake hanging on a blackholed or frozen Redis) is closed before the next one.
 */
export async function runConnectAttempts(
  primary: Connection,
  host: ConnectAttemptsHost,
): Promise<ConnectAttemptsResult> {
  let lastError: RedisManagerError | undefined;
  for (const delayMs of CONNECT_ATTEMPT_DELAYS_MS) {
    if (delayMs > 0) await host.sleep(delayMs);
    if (host.isClosed()) return { kind: 'closed' };
    const timeoutMs = host.connectionTimeoutMs();
    host.onAttemptStarted();
    try {
      await withDeadline(primary.connect(timeoutMs), timeoutMs, host, () => {
        return new RedisTimeoutError(
          timeoutMs,
          `connecting to Redis at ${host.endpoint} timed out after ${timeoutMs} ms`,
        );
      });
      return host.isClosed() ? { kind: 'closed' } : { kind: 'connected' };
    } catch (error) {
      if (host.isClosed()) return { kind: 'closed' };
      await primary.close();
      if (host.isClosed()) return { kind: 'closed' };
      lastError = host.toManagerError(primary.lastRawError ?? error);
      if (host.onAttemptFailed(lastError) === 'stop')
        return { kind: 'failed', error: lastError, stopped: true };
    }
  }
  return { kind: 'failed', error: lastError as RedisManagerError, stopped: false };
}

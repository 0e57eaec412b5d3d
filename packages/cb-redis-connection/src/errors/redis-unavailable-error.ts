import { hasCode, RedisManagerError } from './redis-manager-error.js';

/** Why Redis could not be used. */
export type RedisUnavailableReason =
  /** The manager is in fallback mode; the network was not touched. */
  | 'fallback'
  /** The connection broke (closed, reset, refused) while the command ran. */
  | 'connection_lost'
  /** The server answers but cannot serve (READONLY replica, LOADING, MASTERDOWN). */
  | 'server_unusable'
  /** `connect()` has not succeeded yet. */
  | 'not_connected'
  /** `disconnect()` was called. */
  | 'closed';

/** Redis cannot be used right now. The command was not run, or it broke before a reply came. */
export class RedisUnavailableError extends RedisManagerError {
  override readonly name = 'RedisUnavailableError' as const;
  readonly reason: RedisUnavailableReason;

  constructor(reason: RedisUnavailableReason, message: string, options?: { cause?: unknown }) {
    super('ERR_REDIS_UNAVAILABLE', message, options);
    this.reason = reason;
  }

  static override isInstance(value: unknown): value is RedisUnavailableError {
    return hasCode(value, 'ERR_REDIS_UNAVAILABLE');
  }
}

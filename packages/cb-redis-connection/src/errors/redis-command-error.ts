import { hasCode, RedisManagerError } from './redis-manager-error.js';

/**
 * Redis answered with an error reply (WRONGTYPE, NOSCRIPT, OOM, BUSY, ERR...). The connection is fine;
 * this is not evidence that Redis is down.
 */
export class RedisCommandError extends RedisManagerError {
  override readonly name = 'RedisCommandError' as const;
  /** The reply's prefix, e.g. `WRONGTYPE`, `NOSCRIPT`, `ERR`. */
  readonly replyCode: string;

  constructor(replyCode: string, message: string) {
    super('ERR_REDIS_COMMAND', message);
    this.replyCode = replyCode;
  }

  static override isInstance(value: unknown): value is RedisCommandError {
    return hasCode(value, 'ERR_REDIS_COMMAND');
  }
}

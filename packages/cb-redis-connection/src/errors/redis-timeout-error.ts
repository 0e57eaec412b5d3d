import { hasCode, RedisManagerError } from './redis-manager-error.js';

/**
 * An operation got no reply within its timeout. The outcome is unknown: Redis may still apply the
 * command later, so never treat this as "the command did not run".
 */
export class RedisTimeoutError extends RedisManagerError {
  override readonly name = 'RedisTimeoutError' as const;
  /** The timeout that elapsed. */
  readonly timeoutMs: number;

  constructor(
    timeoutMs: number,
    message = `Redis operation timed out after ${timeoutMs} ms (outcome unknown)`,
  ) {
    super('ERR_REDIS_TIMEOUT', message);
    this.timeoutMs = timeoutMs;
  }

  static override isInstance(value: unknown): value is RedisTimeoutError {
    return hasCode(value, 'ERR_REDIS_TIMEOUT');
  }
}

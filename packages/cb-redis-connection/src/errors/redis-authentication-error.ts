import { hasCode, RedisManagerError } from './redis-manager-error.js';

/** Redis rejected the credentials (WRONGPASS, NOAUTH). The message never contains them. */
export class RedisAuthenticationError extends RedisManagerError {
  override readonly name = 'RedisAuthenticationError' as const;

  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_REDIS_AUTHENTICATION', message, options);
  }

  static override isInstance(value: unknown): value is RedisAuthenticationError {
    return hasCode(value, 'ERR_REDIS_AUTHENTICATION');
  }
}

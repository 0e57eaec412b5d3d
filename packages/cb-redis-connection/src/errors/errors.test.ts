import { describe, expect, it } from 'vitest';
import { RedisManagerError } from './redis-manager-error.js';
import { RedisTimeoutError } from './redis-timeout-error.js';
import { RedisUnavailableError } from './redis-unavailable-error.js';

describe('errors', () => {
  it('have a literal name, a stable code and a cause', () => {
    const cause = new Error('socket closed');
    const error = new RedisUnavailableError('connection_lost', 'gone', { cause });
    expect(error).toBeInstanceOf(RedisManagerError);
    expect(error).toMatchObject({
      name: 'RedisUnavailableError',
      code: 'ERR_REDIS_UNAVAILABLE',
      reason: 'connection_lost',
    });
    expect(error.cause).toBe(cause);
    expect(new RedisTimeoutError(250)).toMatchObject({
      name: 'RedisTimeoutError',
      code: 'ERR_REDIS_TIMEOUT',
      timeoutMs: 250,
      message: 'Redis operation timed out after 250 ms (outcome unknown)',
    });
  });
});

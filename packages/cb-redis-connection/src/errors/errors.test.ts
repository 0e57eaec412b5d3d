import { describe, expect, it, vi } from 'vitest';
import { RedisCommandError } from './redis-command-error.js';
import { RedisManagerError } from './redis-manager-error.js';
import { RedisTimeoutError } from './redis-timeout-error.js';
import { RedisUnavailableError } from './redis-unavailable-error.js';

describe('errors', () => {
  it('have a literal name, a stable code and a cause', () => {
    const cause = new Error('socket closed');
    const error = new RedisUnavailableError('connection-lost', 'gone', { cause });
    expect(error).toBeInstanceOf(RedisManagerError);
    expect(error).toMatchObject({
      name: 'RedisUnavailableError',
      code: 'ERR_REDIS_UNAVAILABLE',
      reason: 'connection-lost',
    });
    expect(error.cause).toBe(cause);
    expect(new RedisTimeoutError(250)).toMatchObject({
      name: 'RedisTimeoutError',
      code: 'ERR_REDIS_TIMEOUT',
      timeoutMs: 250,
      message: 'Redis operation timed out after 250 ms (outcome unknown)',
    });
  });

  it('are recognised by isInstance across duplicate copies of the package', async () => {
    vi.resetModules();
    const copy = await import('./redis-timeout-error.js');
    const foreign = new copy.RedisTimeoutError(100);
    expect(foreign).not.toBeInstanceOf(RedisTimeoutError);
    expect(RedisTimeoutError.isInstance(foreign)).toBe(true);
    expect(RedisManagerError.isInstance(foreign)).toBe(true);
    expect(RedisCommandError.isInstance(foreign)).toBe(false);
    expect(RedisManagerError.isInstance(new Error('plain'))).toBe(false);
    expect(RedisManagerError.isInstance(null)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigError, readConfig, redactRedisUrl } from './config.js';

const generated = () => 'generated-token';

describe('readConfig', () => {
  it('defaults to memory only, port 3000, development, a generated token', () => {
    const config = readConfig({}, generated);
    expect(config).toMatchObject({
      redisUrl: null,
      port: 3000,
      host: '0.0.0.0',
      environment: 'development',
      adminToken: 'generated-token',
      adminTokenGenerated: true,
    });
    expect(config.instanceId).toMatch(/-\d+$/);
  });

  it('reads every variable', () => {
    const config = readConfig(
      {
        REDIS_URL: 'redis://:secret@redis:6379/1',
        PORT: '3001',
        HOST: '127.0.0.1',
        ENVIRONMENT: 'production',
        INSTANCE_ID: 'app-1',
        ADMIN_TOKEN: 'a-long-token',
      },
      generated,
    );
    expect(config).toEqual({
      redisUrl: 'redis://:secret@redis:6379/1',
      port: 3001,
      host: '127.0.0.1',
      environment: 'production',
      instanceId: 'app-1',
      adminToken: 'a-long-token',
      adminTokenGenerated: false,
    });
  });

  it('treats an empty REDIS_URL as unset', () => {
    expect(readConfig({ REDIS_URL: '  ' }, generated).redisUrl).toBeNull();
  });

  it.each([
    [{ REDIS_URL: 'localhost:6379' }, /REDIS_URL must start with redis:\/\//],
    [{ REDIS_URL: 'not a url' }, /REDIS_URL must be a URL/],
    [{ PORT: '70000' }, /PORT must be a TCP port/],
    [{ PORT: 'http' }, /PORT must be a TCP port/],
    [{ ENVIRONMENT: 'prod' }, /ENVIRONMENT must be one of development, staging, production, got "prod"/],
    [{ INSTANCE_ID: 'has space' }, /INSTANCE_ID must be/],
    [{ ADMIN_TOKEN: 'short' }, /ADMIN_TOKEN must be at least 8 characters/],
  ])('rejects %o', (env, message) => {
    expect(() => readConfig(env, generated)).toThrow(ConfigError);
    expect(() => readConfig(env, generated)).toThrow(message);
  });
});

describe('redactRedisUrl', () => {
  it('drops the user and password', () => {
    expect(redactRedisUrl('redis://user:secret@redis:6379/0')).toBe('redis://redis:6379/0');
    expect(redactRedisUrl('redis://localhost:6379')).toBe('redis://localhost:6379');
  });
});

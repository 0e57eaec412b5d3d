import { describe, expect, it } from 'vitest';
import { DEFAULT_REDIS_CONNECTION_OPTIONS, resolveOptions } from './options.js';
import { parseRedisUrl } from './redis-url.js';

describe('resolveOptions', () => {
  it('applies the seed defaults', () => {
    const resolved = resolveOptions(undefined);
    expect(resolved).toMatchObject({
      host: 'localhost',
      port: 6379,
      db: 0,
      password: undefined,
      maxConnections: 50,
      healthCheckIntervalMs: 30_000,
      adaptiveTimeout: true,
      connectionTimeoutMs: 5_000,
      maxConnectionTimeoutMs: 30_000,
      socketTimeoutMs: 10_000,
      operationTimeoutMs: 250,
      idleConnectionTimeoutMs: 30_000,
      tls: undefined,
    });
    expect(Object.isFrozen(DEFAULT_REDIS_CONNECTION_OPTIONS)).toBe(true);
    expect(resolved.clock).toBe(DEFAULT_REDIS_CONNECTION_OPTIONS.clock);
  });

  it('takes host, port, credentials, db and TLS from the URL, and fills gaps from options', () => {
    const resolved = resolveOptions({ url: 'rediss://app:p%40ss@cache.internal:6380/2', host: 'ignored' });
    expect(resolved).toMatchObject({
      host: 'cache.internal',
      port: 6380,
      username: 'app',
      password: 'p@ss',
      db: 2,
      tls: {},
    });
    expect(resolveOptions({ url: 'redis://cache', password: 'from-vault', port: 7000 })).toMatchObject({
      host: 'cache',
      port: 7000,
      password: 'from-vault',
    });
  });

  it.each([
    [{ maxConnections: 0 }, RangeError, 'maxConnections must be a positive integer, got 0'],
    [{ maxConnections: 1.5 }, RangeError, 'maxConnections must be a positive integer, got 1.5'],
    [{ maxConnections: '5' }, TypeError, 'maxConnections must be a positive integer, got "5"'],
    [{ port: 70000 }, RangeError, 'port must be an integer of at most 65535, got 70000'],
    [{ port: 0 }, RangeError, 'port must be a positive integer, got 0'],
    [{ db: -1 }, RangeError, 'db must be a non-negative integer, got -1'],
    [{ host: '' }, RangeError, 'host must be a non-empty string, got ""'],
    [
      { healthCheckIntervalMs: 0 },
      RangeError,
      'healthCheckIntervalMs must be a positive number of milliseconds up to 2147483647, got 0',
    ],
    [
      { socketTimeoutMs: Number.NaN },
      RangeError,
      'socketTimeoutMs must be a positive number of milliseconds up to 2147483647, got NaN',
    ],
    [{ adaptiveTimeout: 'yes' }, TypeError, 'adaptiveTimeout must be a boolean, got "yes"'],
    [
      { operationTimeoutMs: 10_000 },
      RangeError,
      'operationTimeoutMs must be below socketTimeoutMs (10000), got 10000',
    ],
    [
      { connectionTimeoutMs: 40_000, maxConnectionTimeoutMs: 30_000 },
      RangeError,
      'maxConnectionTimeoutMs must be at least connectionTimeoutMs (40000), got 30000',
    ],
    [
      { url: 'http://localhost' },
      TypeError,
      'url must be a redis:// or rediss:// URL (unsupported scheme "http"), got "http://localhost"',
    ],
    [{ url: 'not a url' }, TypeError, 'url must be a redis:// or rediss:// URL (not a URL), got "not a url"'],
    [
      { health_check_interval: 30 },
      TypeError,
      'options has an unknown option "health_check_interval" (did you mean healthCheckIntervalMs (milliseconds)?)',
    ],
    [
      { sentinels: [{ host: 's1', port: 26379 }] },
      TypeError,
      'sentinelName must be a non-empty string when sentinels is set, got undefined',
    ],
    [{ recoveryThreshold: 0 }, RangeError, 'recoveryThreshold must be a positive integer, got 0'],
    [
      { idleConnectionTimeoutMs: 0 },
      RangeError,
      'idleConnectionTimeoutMs must be a positive number of milliseconds up to 2147483647, got 0',
    ],
    [
      { tls: { ca: 5 } },
      TypeError,
      'tls.ca must be a PEM string, a Buffer or a non-empty array of them, got 5',
    ],
    [
      { tls: { ca: [] } },
      TypeError,
      'tls.ca must be a PEM string, a Buffer or a non-empty array of them, got an array',
    ],
    [{ tls: { rejectUnauthorized: 'no' } }, TypeError, 'tls.rejectUnauthorized must be a boolean, got "no"'],
    [{ tls: { servername: '' } }, RangeError, 'tls.servername must be a non-empty string, got ""'],
  ])('rejects %o', (options, type, message) => {
    expect(() => resolveOptions(options as never)).toThrow(new type(message));
    expect(() => resolveOptions(options as never)).toThrow(type);
  });

  it('never echoes a password, not even a malformed one', () => {
    expect(() => resolveOptions({ password: 12345 as never })).toThrow(
      new TypeError('password must be a string, got number'),
    );
    const error = (() => {
      try {
        resolveOptions({ url: 'redis://user:topsecret@host:6379/notadb' });
      } catch (caught) {
        return caught as Error;
      }
      return undefined;
    })();
    expect(error?.message).toMatch(/^url must be/);
    expect(error?.message).not.toContain('topsecret');
    expect(error?.message).not.toContain('user');
  });

  it('passes the TLS fields a private CA needs on to Node', () => {
    const ca = '-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n';
    expect(
      resolveOptions({
        url: 'rediss://cache:6380',
        tls: { ca, servername: 'cache.internal', rejectUnauthorized: true },
      }).tls,
    ).toEqual({ ca, servername: 'cache.internal', rejectUnauthorized: true });
    expect(resolveOptions({ tls: { ca: [Buffer.from(ca)] } }).tls?.ca).toHaveLength(1);
  });

  it('derives a smaller operation timeout when the socket timeout is tiny', () => {
    expect(resolveOptions({ socketTimeoutMs: 200 }).operationTimeoutMs).toBe(100);
  });
});

describe('parseRedisUrl', () => {
  it('parses the parts, IPv6 hosts and ?db=', () => {
    expect(parseRedisUrl('redis://[::1]:6390?db=4')).toEqual({
      host: '::1',
      port: 6390,
      username: undefined,
      password: undefined,
      db: 4,
      tls: false,
    });
    expect(parseRedisUrl('redis://:only-password@h').password).toBe('only-password');
  });
});

import { describe, expect, it } from 'vitest';
import { classifyError, isConfigurationFailure } from './classify-error.js';
import { RedisUnavailableError } from './errors/redis-unavailable-error.js';
import { redact } from './redact.js';

function replyError(message: string): Error {
  const error = new Error(message);
  error.name = 'ReplyError';
  return error;
}

const context = { endpoint: 'localhost:6379/0', secrets: ['s3cr3t'] };

describe('classifyError', () => {
  it.each([
    [
      'WRONGTYPE Operation against a key holding the wrong kind of value',
      'reply',
      'RedisCommandError',
      'WRONGTYPE',
    ],
    ['NOSCRIPT No matching script', 'reply', 'RedisCommandError', 'NOSCRIPT'],
    ['OOM command not allowed', 'reply', 'RedisCommandError', 'OOM'],
    ['BUSY Redis is busy running a script', 'reply', 'RedisCommandError', 'BUSY'],
    [
      "READONLY You can't write against a read only replica.",
      'connection',
      'RedisUnavailableError',
      undefined,
    ],
    ['LOADING Redis is loading the dataset in memory', 'connection', 'RedisUnavailableError', undefined],
    ['WRONGPASS invalid username-password pair', 'connection', 'RedisAuthenticationError', undefined],
  ])('%s', (message, kind, name, replyCode) => {
    const classified = classifyError(replyError(message), context);
    expect(classified.kind).toBe(kind);
    expect((classified.error as Error).name).toBe(name);
    if (replyCode !== undefined) expect(classified.error).toMatchObject({ replyCode });
  });

  it('maps connection failures and ioredis timeouts, and never passes a raw ioredis error on', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
    for (const raw of [
      refused,
      new Error('Connection is closed.'),
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
    ]) {
      const classified = classifyError(raw, context);
      expect(classified.kind).toBe('connection');
      expect(RedisUnavailableError.isInstance(classified.error)).toBe(true);
      expect(classified.error).not.toBe(raw);
    }
    expect(classifyError(new Error('Command timed out'), context).error).toMatchObject({
      name: 'RedisTimeoutError',
    });
  });

  it('maps TLS handshake failures to RedisTlsError, as configuration failures', () => {
    const untrusted = Object.assign(new Error('self-signed certificate in certificate chain'), {
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
    const classified = classifyError(untrusted, context);
    expect(classified.kind).toBe('connection');
    expect(classified.error).toMatchObject({
      name: 'RedisTlsError',
      code: 'ERR_REDIS_TLS',
      failure: 'certificate',
      tlsCode: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
    const wrongPort = Object.assign(new Error('wrong version number'), {
      code: 'ERR_SSL_WRONG_VERSION_NUMBER',
    });
    expect(classifyError(wrongPort, context).error).toMatchObject({ failure: 'protocol' });
    expect(isConfigurationFailure(untrusted)).toBe(true);
    expect(isConfigurationFailure(replyError('WRONGPASS invalid username-password pair'))).toBe(true);
    expect(isConfigurationFailure(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(false);
  });

  it('leaves errors of the caller’s own code alone', () => {
    const own = new RangeError('mine');
    expect(classifyError(own, context)).toEqual({ kind: 'foreign', error: own });
  });

  it('redacts secrets from causes', () => {
    const raw = Object.assign(new Error('AUTH s3cr3t failed on redis://u:s3cr3t@h'), { code: 'ECONNRESET' });
    const classified = classifyError(raw, context);
    expect(
      JSON.stringify({
        message: (classified.error as Error).message,
        cause: String((classified.error as Error).cause),
      }),
    ).not.toContain('s3cr3t');
  });
});

describe('redact', () => {
  it('masks URL credentials and the given secrets, raw and URL-encoded', () => {
    expect(redact('redis://user:pa%20ss@host:1 and pa%20ss and pa ss', ['pa ss'])).toBe(
      'redis://***@host:1 and *** and ***',
    );
  });
});

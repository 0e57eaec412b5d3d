import { describe, expect, it } from 'vitest';
import {
  assertBoolean,
  assertClock,
  assertDelayMs,
  assertFunction,
  assertInteger,
  assertKnownKeys,
  assertNonEmptyString,
  assertNumber,
  assertObject,
  assertOneOf,
  assertSecretString,
  describeType,
  describeValue,
} from './validation.js';

describe('describeValue', () => {
  it('shows primitives as written and anything else by its kind', () => {
    expect([
      describeValue('a'),
      describeValue(1.5),
      describeValue(Number.NaN),
      describeValue(true),
      describeValue(null),
      describeValue(undefined),
      describeValue(5n),
      describeValue(() => 1),
      describeValue([1]),
      describeValue({ password: 'secret' }),
    ]).toEqual([
      '"a"',
      '1.5',
      'NaN',
      'true',
      'null',
      'undefined',
      '5n',
      'a function',
      'an array',
      'an object',
    ]);
    expect([describeType(null), describeType([]), describeType('s')]).toEqual(['null', 'array', 'string']);
  });
});

describe('assert functions', () => {
  it.each([
    [() => assertInteger('size', 0, 1), RangeError, 'size must be a positive integer, got 0'],
    [() => assertInteger('size', '5', 1), TypeError, 'size must be a positive integer, got "5"'],
    [() => assertInteger('db', -1, 0), RangeError, 'db must be a non-negative integer, got -1'],
    [() => assertInteger('lag', 1.5, 2), RangeError, 'lag must be an integer of at least 2, got 1.5'],
    [
      () => assertInteger('port', 70_000, 1, 65_535),
      RangeError,
      'port must be an integer of at most 65535, got 70000',
    ],
    [
      () => assertNumber('ratio', 1.5, 0, 1),
      RangeError,
      'ratio must be a finite number at least 0 and at most 1, got 1.5',
    ],
    [() => assertNumber('rate', 0, 0, 1, true), RangeError, 'rate must be a finite number greater than 0'],
    [
      () => assertNumber('factor', 'x', 1, Number.MAX_VALUE),
      TypeError,
      'factor must be a finite number at least 1, got "x"',
    ],
    [
      () => assertDelayMs('intervalMs', 0),
      RangeError,
      'intervalMs must be a positive number of milliseconds up to 2147483647, got 0',
    ],
    [
      () => assertDelayMs('intervalMs', 2 ** 31),
      RangeError,
      'intervalMs must be a positive number of milliseconds up to 2147483647, got 2147483648',
    ],
    [
      () => assertDelayMs('intervalMs', null),
      TypeError,
      'intervalMs must be a positive number of milliseconds up to 2147483647, got null',
    ],
    [() => assertBoolean('tls', 'yes'), TypeError, 'tls must be a boolean, got "yes"'],
    [() => assertNonEmptyString('host', ''), RangeError, 'host must be a non-empty string, got ""'],
    [() => assertNonEmptyString('host', 5), TypeError, 'host must be a non-empty string, got 5'],
    [() => assertFunction('fallback', 1), TypeError, 'fallback must be a function, got 1'],
    [() => assertOneOf('mode', 'open', ['a', 'b']), TypeError, 'mode must be one of "a", "b", got "open"'],
    [() => assertObject('options', null), TypeError, 'options must be an object, got null'],
    [
      () => assertKnownKeys('options', { redis_url: 1 }, new Set(['url']), { redis_url: 'url' }),
      TypeError,
      'options has an unknown option "redis_url" (did you mean url?)',
    ],
    [
      () => assertClock('clock', 5),
      TypeError,
      'clock must be an object with now(), setTimeout() and clearTimeout(), got 5',
    ],
    [
      () => assertClock('clock', { now: () => 0 }),
      TypeError,
      'clock.setTimeout must be a function, got undefined',
    ],
  ])('%#: throws the house-style error', (check, type, message) => {
    expect(check).toThrow(type);
    expect(check).toThrow(message);
  });

  it('return the value they checked', () => {
    const clock = { now: () => 0, monotonic: () => 0, setTimeout: () => 1, clearTimeout: () => undefined };
    expect(assertClock('clock', clock)).toBe(clock);
    expect(assertInteger('n', 3, 1, 3)).toBe(3);
    expect(assertDelayMs('d', 0.5)).toBe(0.5);
    expect(assertSecretString('password', 'p')).toBe('p');
    expect(() => assertClock('clock', { ...clock, monotonic: 1 })).toThrow(
      'clock.monotonic must be a function',
    );
  });

  it('never echo a secret', () => {
    expect(() => assertSecretString('password', 12345)).toThrow(
      new TypeError('password must be a string, got number'),
    );
  });
});

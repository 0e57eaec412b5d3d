import { describe, expect, it } from 'vitest';
import { MAX_CIRCUIT_NAME_BYTES, validateCircuitName } from './circuit-name.js';
import { CircuitBreakerError } from './errors/circuit-breaker-error.js';
import { InvalidCircuitNameError } from './errors/invalid-circuit-name-error.js';

describe('validateCircuitName', () => {
  it('accepts ordinary and unicode names up to 256 bytes', () => {
    expect(validateCircuitName('payments-api')).toBe('payments-api');
    expect(validateCircuitName('a'.repeat(MAX_CIRCUIT_NAME_BYTES))).toHaveLength(256);
    expect(validateCircuitName('支付:v2')).toBe('支付:v2');
    expect(validateCircuitName('é'.repeat(128))).toHaveLength(128);
  });

  it.each([
    ['', 'circuit name must not be empty'],
    ['a'.repeat(257), 'circuit name must be at most 256 bytes of UTF-8, got 257 bytes'],
    ['é'.repeat(129), 'got 258 bytes'],
    ['tab\there', 'circuit name must not contain control characters, got U+0009 at index 3'],
    ['nul\u0000', 'U+0000'],
    ['del\u007f', 'U+007f'],
    ['c1\u0085', 'U+0085'],
  ])('rejects %j', (name, message) => {
    expect(() => validateCircuitName(name)).toThrow(InvalidCircuitNameError);
    expect(() => validateCircuitName(name)).toThrow(message);
  });

  it('rejects non-strings with a typed error that carries a stable code', () => {
    for (const value of [undefined, null, 42, {}]) {
      try {
        validateCircuitName(value);
        expect.unreachable();
      } catch (error) {
        expect(CircuitBreakerError.isInstance(error)).toBe(true);
        expect(InvalidCircuitNameError.isInstance(error)).toBe(true);
        expect((error as InvalidCircuitNameError).code).toBe('INVALID_CIRCUIT_NAME');
        expect((error as Error).name).toBe('InvalidCircuitNameError');
      }
    }
  });
});

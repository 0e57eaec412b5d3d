import { CircuitBreakerError, hasErrorCode } from './circuit-breaker-error.js';

/** A circuit name is empty, too long, not a string, or holds control characters. */
export class InvalidCircuitNameError extends CircuitBreakerError {
  override readonly name = 'InvalidCircuitNameError';

  constructor(message: string) {
    super('INVALID_CIRCUIT_NAME', message);
  }

  static override isInstance(value: unknown): value is InvalidCircuitNameError {
    return hasErrorCode(value, 'INVALID_CIRCUIT_NAME');
  }
}

import { CircuitBreakerError, hasErrorCode } from './circuit-breaker-error.js';

/** Data handed to `setState` (or read from a store) is not a valid `CircuitStateData`. */
export class InvalidStateDataError extends CircuitBreakerError {
  override readonly name = 'InvalidStateDataError';

  constructor(message: string) {
    super('INVALID_STATE_DATA', message);
  }

  static override isInstance(value: unknown): value is InvalidStateDataError {
    return hasErrorCode(value, 'INVALID_STATE_DATA');
  }
}

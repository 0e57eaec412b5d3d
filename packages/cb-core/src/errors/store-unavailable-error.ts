import { CircuitBreakerError, hasErrorCode } from './circuit-breaker-error.js';

/** The state store could not be reached in time. The operation's outcome is unknown. */
export class StoreUnavailableError extends CircuitBreakerError {
  override readonly name = 'StoreUnavailableError';

  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_UNAVAILABLE', message, options);
  }

  static override isInstance(value: unknown): value is StoreUnavailableError {
    return hasErrorCode(value, 'STORE_UNAVAILABLE');
  }
}

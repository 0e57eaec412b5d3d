import { CircuitBreakerError, hasErrorCode } from './circuit-breaker-error.js';

/** The breaker or store was closed; no further calls are taken. */
export class ClosedError extends CircuitBreakerError {
  override readonly name = 'ClosedError';

  constructor(what: string) {
    super('CLOSED', `${what} is closed`);
  }

  static override isInstance(value: unknown): value is ClosedError {
    return hasErrorCode(value, 'CLOSED');
  }
}

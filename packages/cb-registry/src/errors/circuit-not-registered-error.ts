import { CircuitRegistryError, hasErrorCode } from './circuit-registry-error.js';

/** No circuit breaker of that name is registered. */
export class CircuitNotRegisteredError extends CircuitRegistryError {
  override readonly name = 'CircuitNotRegisteredError';

  constructor(circuitName: string) {
    super('CIRCUIT_NOT_REGISTERED', circuitName, `No circuit breaker is registered as "${circuitName}"`);
  }

  static override isInstance(value: unknown): value is CircuitNotRegisteredError {
    return hasErrorCode(value, 'CIRCUIT_NOT_REGISTERED');
  }
}

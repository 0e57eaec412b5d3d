import { CircuitRegistryError } from './circuit-registry-error.js';

/** No circuit breaker of that name is registered. */
export class CircuitNotRegisteredError extends CircuitRegistryError {
  override readonly name = 'CircuitNotRegisteredError';

  constructor(circuitName: string) {
    super('CIRCUIT_NOT_REGISTERED', circuitName, `No circuit breaker is registered as "${circuitName}"`);
  }

  static override isInstance(value: unknown): value is CircuitNotRegisteredError {
    return CircuitRegistryError.isInstance(value) && value.code === 'CIRCUIT_NOT_REGISTERED';
  }
}

import { CircuitRegistryError, hasErrorCode } from './circuit-registry-error.js';

/** The name is registered with another configuration (the same configuration returns the same breaker). */
export class CircuitAlreadyRegisteredError extends CircuitRegistryError {
  override readonly name = 'CircuitAlreadyRegisteredError';
  /** The first option that differs. */
  readonly option: string;

  constructor(circuitName: string, option: string) {
    super(
      'CIRCUIT_ALREADY_REGISTERED',
      circuitName,
      `Circuit "${circuitName}" is already registered with a different configuration (${option} differs)`,
    );
    this.option = option;
  }

  static override isInstance(value: unknown): value is CircuitAlreadyRegisteredError {
    return hasErrorCode(value, 'CIRCUIT_ALREADY_REGISTERED');
  }
}

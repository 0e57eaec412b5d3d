/** Stable codes of the errors the registry throws itself (breaker errors come from `@xnai/cb-core`). */
export type CircuitRegistryErrorCode = 'CIRCUIT_NOT_REGISTERED' | 'CIRCUIT_ALREADY_REGISTERED';

const MARK = Symbol.for('@xnai/cb-registry/CircuitRegistryError');

/**
 * Base class of the registry's own errors. Check with {@link CircuitRegistryError.isInstance} rather
 * than `instanceof` when two copies of the package may be loaded.
 */
export class CircuitRegistryError extends Error {
  override readonly name: string = 'CircuitRegistryError';
  readonly code: CircuitRegistryErrorCode;
  /** The circuit concerned. */
  readonly circuitName: string;

  constructor(code: CircuitRegistryErrorCode, circuitName: string, message: string) {
    super(message);
    this.code = code;
    this.circuitName = circuitName;
    Object.defineProperty(this, MARK, { value: true });
  }

  /** `true` for any `CircuitRegistryError`, from this or another copy of `@xnai/cb-registry`. */
  static isInstance(value: unknown): value is CircuitRegistryError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[MARK] === true;
  }
}

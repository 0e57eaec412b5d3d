/** Stable codes of every error this family of packages throws. */
export type CircuitBreakerErrorCode =
  | 'CIRCUIT_OPEN'
  | 'CALL_TIMEOUT'
  | 'INVALID_CIRCUIT_NAME'
  | 'STORE_UNAVAILABLE'
  | 'INVALID_STATE_DATA'
  | 'CLOSED';

const MARK = Symbol.for('@xnai/cb-core/CircuitBreakerError');

/**
 * Base class of the errors a breaker throws. Check with {@link CircuitBreakerError.isInstance}
 * rather than `instanceof` when two copies of the package may be loaded.
 */
export class CircuitBreakerError extends Error {
  override readonly name: string = 'CircuitBreakerError';
  readonly code: CircuitBreakerErrorCode;

  constructor(code: CircuitBreakerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    Object.defineProperty(this, MARK, { value: true });
  }

  /** `true` for any `CircuitBreakerError`, from this or another copy of `@xnai/cb-core`. */
  static isInstance(value: unknown): value is CircuitBreakerError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[MARK] === true;
  }
}

import { createErrorBrand } from '@xnai/kit';

/** Stable codes of every error this family of packages throws. */
export type CircuitBreakerErrorCode =
  | 'CIRCUIT_OPEN'
  | 'CALL_TIMEOUT'
  | 'INVALID_CIRCUIT_NAME'
  | 'STORE_UNAVAILABLE'
  | 'INVALID_STATE_DATA'
  | 'CLOSED';

// A global key, never to change: every copy of this package (ESM and CommonJS builds, two versions
// side by side) marks and recognises its errors under it.
const BRAND = createErrorBrand<CircuitBreakerErrorCode>('@xnai/cb-core/CircuitBreakerError');

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
    BRAND.mark(this, code);
  }

  /** `true` for any `CircuitBreakerError`, from this or another copy of `@xnai/cb-core`. */
  static isInstance(value: unknown): value is CircuitBreakerError {
    return BRAND.codeOf(value) !== undefined;
  }
}

/** @internal Whether `value` is an error of this family with `code`, from any copy of the package. */
export function hasErrorCode(value: unknown, code: CircuitBreakerErrorCode): boolean {
  return BRAND.codeOf(value) === code;
}

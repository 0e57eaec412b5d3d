import { createErrorBrand } from '@xnai/kit';

/** Stable codes of the errors the registry throws itself (breaker errors come from `@xnai/cb-core`). */
export type CircuitRegistryErrorCode = 'CIRCUIT_NOT_REGISTERED' | 'CIRCUIT_ALREADY_REGISTERED';

// A global key, never to change: every copy of this package (ESM and CommonJS builds, two versions
// side by side) marks and recognises its errors under it.
const BRAND = createErrorBrand<CircuitRegistryErrorCode>('@xnai/cb-registry/CircuitRegistryError');

/** @internal Whether `value` is a registry error with `code`, from any copy of the package. */
export function hasErrorCode(value: unknown, code: CircuitRegistryErrorCode): boolean {
  return BRAND.codeOf(value) === code;
}

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
    BRAND.mark(this, code);
  }

  /** `true` for any `CircuitRegistryError`, from this or another copy of `@xnai/cb-registry`. */
  static isInstance(value: unknown): value is CircuitRegistryError {
    return BRAND.codeOf(value) !== undefined;
  }
}

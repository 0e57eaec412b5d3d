/**
 * Marks the errors of one package with their code under a `Symbol.for` key, so that every copy of the
 * package (an ESM and a CommonJS build loaded side by side, two versions in one `node_modules`)
 * recognises the errors of every other copy, where `instanceof` sees unrelated classes.
 */
export interface ErrorBrand<TCode extends string> {
  /** Marks `error` with `code` (a non-enumerable property under the brand's symbol). */
  mark(error: Error, code: TCode): void;
  /** The code `value` was marked with, or `undefined` when it carries no mark of this brand. */
  codeOf(value: unknown): TCode | undefined;
}

/**
 * Creates the brand of one family of errors. `key` is global (`Symbol.for`): give each family its
 * own, such as `'@xnai/cb-core/CircuitBreakerError'`, and never change it, or copies of different
 * versions stop recognising each other's errors.
 * @example
 * ```ts
 * const BRAND = createErrorBrand<'TIMEOUT'>('@xnai/example/ExampleError');
 * class ExampleError extends Error {
 *   constructor(readonly code: 'TIMEOUT') { super(code); BRAND.mark(this, code); }
 *   static isInstance(value: unknown): value is ExampleError { return BRAND.codeOf(value) !== undefined; }
 * }
 * ```
 */
export function createErrorBrand<TCode extends string>(key: string): ErrorBrand<TCode> {
  const symbol = Symbol.for(key);
  return Object.freeze({
    mark(error: Error, code: TCode): void {
      Object.defineProperty(error, symbol, { value: code, enumerable: false });
    },
    codeOf(value: unknown): TCode | undefined {
      if (typeof value !== 'object' || value === null) return undefined;
      const code = (value as Record<symbol, unknown>)[symbol];
      return typeof code === 'string' ? (code as TCode) : undefined;
    },
  });
}

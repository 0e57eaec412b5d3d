/** Stable codes of the errors this package raises. */
export type RedisManagerErrorCode =
  | 'ERR_REDIS_UNAVAILABLE'
  | 'ERR_REDIS_TIMEOUT'
  | 'ERR_REDIS_COMMAND'
  | 'ERR_REDIS_AUTHENTICATION'
  | 'ERR_REDIS_TLS';

// Symbol.for, not a module-local symbol: two copies of this package must recognise each other's errors.
const BRAND = Symbol.for('@xnai/cb-redis-connection/error');

function brandOf(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return undefined;
  return (value as { [BRAND]?: unknown })[BRAND];
}

/** @internal */
export function hasCode(value: unknown, code: RedisManagerErrorCode): boolean {
  return brandOf(value) === code;
}

/**
 * Base class of every error `@xnai/cb-redis-connection` raises. Messages and causes never carry a
 * password or URL credential.
 */
export abstract class RedisManagerError extends Error {
  abstract override readonly name: string;
  /** Stable, machine-readable code. */
  readonly code: RedisManagerErrorCode;

  protected constructor(code: RedisManagerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    Object.defineProperty(this, BRAND, { value: code, enumerable: false });
  }

  /** True for any error of this package, including errors from another copy of it. */
  static isInstance(value: unknown): value is RedisManagerError {
    return typeof brandOf(value) === 'string';
  }
}

import { createErrorBrand } from '@xnai/kit';

/** Stable codes of the errors this package raises. */
export type RedisManagerErrorCode =
  | 'ERR_REDIS_UNAVAILABLE'
  | 'ERR_REDIS_TIMEOUT'
  | 'ERR_REDIS_COMMAND'
  | 'ERR_REDIS_AUTHENTICATION'
  | 'ERR_REDIS_TLS';

// A global key, never to change: every copy of this package (ESM and CommonJS builds, two versions
// side by side) marks and recognises its errors under it.
const BRAND = createErrorBrand<RedisManagerErrorCode>('@xnai/cb-redis-connection/error');

/** @internal Whether `value` is an error of this package with `code`, from any copy of it. */
export function hasCode(value: unknown, code: RedisManagerErrorCode): boolean {
  return BRAND.codeOf(value) === code;
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
    BRAND.mark(this, code);
  }

  /** True for any error of this package, including errors from another copy of it. */
  static isInstance(value: unknown): value is RedisManagerError {
    return BRAND.codeOf(value) !== undefined;
  }
}

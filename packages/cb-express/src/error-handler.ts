import { CircuitOpenError, type Clock, StoreUnavailableError, systemClock } from '@xnai/cb-core';
import type { ErrorRequestHandler } from 'express';
import { retryAfterSeconds } from './retry-after.js';

/** Options of {@link circuitBreakerErrorHandler}. */
export interface CircuitBreakerErrorHandlerOptions {
  /**
   * The clock `retryAt` is compared with for `Retry-After`.
   * @default systemClock
   */
  readonly clock?: Clock;
  /**
   * Put the circuit's name, the reason and `retryAt` in the JSON body. Turn off when circuit names
   * must not reach clients.
   * @default true
   */
  readonly exposeDetails?: boolean;
}

/** The JSON body of a 503 answered by {@link circuitBreakerErrorHandler}. */
export interface CircuitBreakerErrorBody {
  readonly error: {
    readonly code: 'CIRCUIT_OPEN' | 'STORE_UNAVAILABLE';
    readonly message: string;
    readonly circuit?: string;
    readonly reason?: string;
    /** Epoch ms, or `null` when unknown. */
    readonly retryAt?: number | null;
  };
}

/**
 * Express error middleware: a `CircuitOpenError` becomes `503 Service Unavailable` with
 * `Retry-After` (seconds until `retryAt`, rounded up, at least 1; absent when the circuit is forced
 * open without expiry), a `StoreUnavailableError` (a `fail-closed` circuit during a Redis outage)
 * becomes `503` without `Retry-After`. Any other error goes to the next error handler. Mount it
 * after your routes.
 * @example
 * ```ts
 * app.use(circuitBreakerErrorHandler());
 * ```
 */
export function circuitBreakerErrorHandler(
  options: CircuitBreakerErrorHandlerOptions = {},
): ErrorRequestHandler {
  const clock = options.clock ?? systemClock;
  if (typeof clock?.now !== 'function') throw new TypeError('clock.now must be a function');
  const exposeDetails = options.exposeDetails ?? true;
  if (typeof exposeDetails !== 'boolean') {
    throw new TypeError(`exposeDetails must be a boolean, got ${JSON.stringify(exposeDetails)}`);
  }
  return (error, _request, response, next) => {
    if (CircuitOpenError.isInstance(error)) {
      if (response.headersSent) return next(error);
      const seconds = retryAfterSeconds(error.retryAt, clock.now());
      if (seconds !== null) response.setHeader('Retry-After', String(seconds));
      const body: CircuitBreakerErrorBody = {
        error: exposeDetails
          ? {
              code: 'CIRCUIT_OPEN',
              message: error.message,
              circuit: error.circuit,
              reason: error.reason,
              retryAt: error.retryAt,
            }
          : { code: 'CIRCUIT_OPEN', message: 'Service temporarily unavailable' },
      };
      response.status(503).json(body);
      return undefined;
    }
    if (StoreUnavailableError.isInstance(error)) {
      if (response.headersSent) return next(error);
      const body: CircuitBreakerErrorBody = {
        error: {
          code: 'STORE_UNAVAILABLE',
          message: exposeDetails ? error.message : 'Service temporarily unavailable',
        },
      };
      response.status(503).json(body);
      return undefined;
    }
    return next(error);
  };
}

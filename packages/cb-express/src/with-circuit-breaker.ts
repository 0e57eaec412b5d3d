import type { CircuitBreaker } from '@xnai/cb-core';
import type { CircuitBreakerRegistry } from '@xnai/cb-registry';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { requestSignal } from './request-signal.js';

/** A route handler run through a breaker: it gets the request's abort signal as its third argument. */
export type ProtectedHandler = (request: Request, response: Response, signal: AbortSignal) => unknown;

/**
 * Runs a route handler through a circuit breaker: the registry's breaker `name`, or a breaker given
 * directly. The handler receives an AbortSignal that aborts when the client goes away (or the
 * breaker's timeout fires); what it throws or rejects with counts as the breaker classifies it and
 * goes to `next(error)` — so a rejected call (`CircuitOpenError`) reaches
 * {@link circuitBreakerErrorHandler}, which answers `503` with `Retry-After`. When the client has
 * gone, nothing more is sent.
 * @throws {TypeError} the arguments are not a registry and a name, or a breaker, and a handler.
 * @example
 * ```ts
 * app.get('/stock/:sku', withCircuitBreaker(registry, 'inventory', async (request, response, signal) => {
 *   const upstream = await fetch(`http://inventory/stock/${request.params.sku}`, { signal });
 *   response.json(await upstream.json());
 * }));
 * ```
 */
export function withCircuitBreaker(
  registry: CircuitBreakerRegistry,
  name: string,
  handler: ProtectedHandler,
): RequestHandler;
export function withCircuitBreaker(
  breaker: CircuitBreaker<unknown>,
  handler: ProtectedHandler,
): RequestHandler;
export function withCircuitBreaker(
  target: CircuitBreakerRegistry | CircuitBreaker<unknown>,
  nameOrHandler: string | ProtectedHandler,
  maybeHandler?: ProtectedHandler,
): RequestHandler {
  const handler = typeof nameOrHandler === 'function' ? nameOrHandler : maybeHandler;
  if (typeof handler !== 'function') throw new TypeError('handler must be a function');
  let run: (fn: (signal: AbortSignal) => unknown, signal: AbortSignal) => Promise<unknown>;
  if (typeof nameOrHandler === 'string') {
    const registry = target as CircuitBreakerRegistry;
    if (typeof registry?.callWithCircuitBreaker !== 'function') {
      throw new TypeError('withCircuitBreaker(registry, name, handler) needs a CircuitBreakerRegistry');
    }
    const name = nameOrHandler;
    run = (fn, signal) => registry.callWithCircuitBreaker(name, fn, { signal });
  } else {
    const breaker = target as CircuitBreaker<unknown>;
    if (typeof breaker?.execute !== 'function') {
      throw new TypeError('withCircuitBreaker(breaker, handler) needs a CircuitBreaker');
    }
    run = (fn, signal) => breaker.execute(fn, { signal });
  }
  return (request: Request, response: Response, next: NextFunction): void => {
    const clientSignal = requestSignal(request, response);
    run((signal) => handler(request, response, signal), clientSignal).then(
      () => undefined,
      (error: unknown) => {
        // The client left: there is nobody to answer.
        if (clientSignal.aborted && error === clientSignal.reason) return;
        next(error);
      },
    );
  };
}

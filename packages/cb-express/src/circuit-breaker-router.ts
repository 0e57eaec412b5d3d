import { CircuitBreakerError, MAX_OVERRIDE_REASON_LENGTH, type OverrideOptions } from '@xnai/cb-core';
import { type CircuitBreakerRegistry, CircuitNotRegisteredError } from '@xnai/cb-registry';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';

/** Decides whether a request may use the admin actions. */
export type AdminGuard = (request: Request) => boolean | Promise<boolean>;

/** Options of {@link createCircuitBreakerRouter}. */
export interface CircuitBreakerRouterOptions {
  /**
   * Required: decides whether a request may force, clear or reset circuits (check a token, a role,
   * a network). Refused requests get `403`; a guard that throws passes the error to `next`.
   */
  readonly guard: AdminGuard;
  /**
   * Run the guard for the status routes too (`GET`), not only for the admin actions.
   * @default false
   */
  readonly guardStatus?: boolean;
}

const OPTION_NAMES = new Set(['guard', 'guardStatus']);

interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

function fail(response: Response, status: number, code: string, message: string): void {
  const body: ErrorBody = { error: { code, message } };
  response.status(status).json(body);
}

/** Reads `{ reason?, durationMs? }`; answers 400 and returns null when it is malformed. */
function overrideOptions(request: Request, response: Response): OverrideOptions | null {
  const body: unknown = request.body ?? {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    fail(response, 400, 'INVALID_BODY', 'the body must be a JSON object');
    return null;
  }
  const { reason, durationMs, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    fail(response, 400, 'INVALID_BODY', `unknown field ${JSON.stringify(unknown[0])}`);
    return null;
  }
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > MAX_OVERRIDE_REASON_LENGTH)) {
    fail(
      response,
      400,
      'INVALID_BODY',
      `reason must be a string of at most ${MAX_OVERRIDE_REASON_LENGTH} characters, got ${JSON.stringify(reason)}`,
    );
    return null;
  }
  if (
    durationMs !== undefined &&
    (typeof durationMs !== 'number' || !Number.isSafeInteger(durationMs) || durationMs < 1)
  ) {
    fail(
      response,
      400,
      'INVALID_BODY',
      `durationMs must be a positive integer, got ${JSON.stringify(durationMs)}`,
    );
    return null;
  }
  return {
    ...(reason === undefined ? {} : { reason: reason as string }),
    ...(durationMs === undefined ? {} : { durationMs: durationMs as number }),
  };
}

/**
 * A router with the registry's status and the operator's actions, to mount where you like
 * (`app.use('/circuit-breakers', router)`):
 *
 * - `GET /` — `getRegistryStatus()` as JSON;
 * - `GET /:name` — one circuit (`404` when not registered);
 * - `POST /:name/force-open`, `POST /:name/force-closed` — body `{ reason?, durationMs? }`;
 * - `POST /:name/clear` — removes the override; `POST /:name/reset` — closes and clears it.
 *
 * The actions hold fleet-wide (they go through the shared store) and answer the circuit's new state.
 * Every action runs behind `guard`; the status routes too with `guardStatus`.
 * @throws {TypeError} `guard` is missing or not a function.
 * @example
 * ```ts
 * app.use('/circuit-breakers', createCircuitBreakerRouter(registry, {
 *   guard: (request) => request.get('authorization') === `Bearer ${process.env.ADMIN_TOKEN}`,
 * }));
 * ```
 */
export function createCircuitBreakerRouter(
  registry: CircuitBreakerRegistry,
  options: CircuitBreakerRouterOptions,
): Router {
  if (typeof registry?.getRegistryStatus !== 'function') {
    throw new TypeError('registry must be a CircuitBreakerRegistry');
  }
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('options must be an object with a guard function');
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.has(key)) throw new TypeError(`options has an unknown option ${JSON.stringify(key)}`);
  }
  const guard = options.guard;
  if (typeof guard !== 'function') {
    throw new TypeError('guard must be a function: admin actions are never served without one');
  }
  const guardStatus = options.guardStatus ?? false;
  if (typeof guardStatus !== 'boolean') {
    throw new TypeError(`guardStatus must be a boolean, got ${JSON.stringify(guardStatus)}`);
  }
  const guarded = (request: Request, response: Response, next: NextFunction): void => {
    Promise.resolve()
      .then(() => guard(request))
      .then(
        (allowed) => {
          if (allowed === true) next();
          else fail(response, 403, 'FORBIDDEN', 'the guard refused this request');
        },
        (error: unknown) => next(error),
      );
  };
  const open = (_request: Request, _response: Response, next: NextFunction): void => next();
  const router = express.Router();
  const read = guardStatus ? guarded : open;

  router.get('/', read, (_request, response, next) => {
    registry.getRegistryStatus().then((status) => response.json(status), next);
  });
  router.get('/:name', read, (request, response, next) => {
    const name = String(request.params.name);
    registry.getRegistryStatus().then((status) => {
      const circuit = status.circuits[name];
      if (circuit === undefined) {
        fail(response, 404, 'CIRCUIT_NOT_REGISTERED', `No circuit breaker is registered as "${name}"`);
      } else response.json({ name, ...circuit });
    }, next);
  });

  const action =
    (run: (name: string, request: Request, response: Response) => Promise<unknown> | null) =>
    (request: Request, response: Response, next: NextFunction): void => {
      const name = String(request.params.name);
      const done = run(name, request, response);
      if (done === null) return;
      done.then(
        () => {
          const breaker = registry.get(name);
          response.json({ name, status: breaker?.status, state: breaker?.stateData });
        },
        (error: unknown) => {
          if (CircuitNotRegisteredError.isInstance(error)) {
            fail(response, 404, 'CIRCUIT_NOT_REGISTERED', error.message);
          } else if (error instanceof TypeError || error instanceof RangeError) {
            fail(response, 400, 'INVALID_BODY', error.message);
          } else if (CircuitBreakerError.isInstance(error)) {
            fail(response, 503, error.code, error.message);
          } else next(error);
        },
      );
    };
  const json = express.json({ limit: '16kb' });
  const call = <T>(fn: () => Promise<T>): Promise<T> => Promise.resolve().then(fn);
  router.post(
    '/:name/force-open',
    guarded,
    json,
    action((name, request, response) => {
      const override = overrideOptions(request, response);
      return override === null ? null : call(() => registry.forceOpen(name, override));
    }),
  );
  router.post(
    '/:name/force-closed',
    guarded,
    json,
    action((name, request, response) => {
      const override = overrideOptions(request, response);
      return override === null ? null : call(() => registry.forceClosed(name, override));
    }),
  );
  router.post(
    '/:name/clear',
    guarded,
    action((name) => call(() => registry.clearOverride(name))),
  );
  router.post(
    '/:name/reset',
    guarded,
    action((name) => call(() => registry.reset(name))),
  );
  return router;
}

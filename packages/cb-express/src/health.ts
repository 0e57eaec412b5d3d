import { type CircuitBreakerRegistry, liveness, type ReadinessOptions, readiness } from '@xnai/cb-registry';
import express, { type RequestHandler, type Router } from 'express';

/**
 * `GET` handler of the liveness probe (`200 {"status":"ok"}`): never looks at breakers or Redis,
 * so a tripped breaker or a Redis outage never gets an instance restarted.
 */
export function livenessHandler(): RequestHandler {
  return (_request, response) => {
    const { status, body } = liveness();
    response.status(status).json(body);
  };
}

/**
 * `GET` handler of the readiness probe: every breaker's status and the Redis mode in the body;
 * `200` while a breaker is open or Redis is away (`degraded`), `503` while the registry shuts down or,
 * with `requireRedis`, while Redis is not connected.
 */
export function readinessHandler(
  registry: CircuitBreakerRegistry,
  options: ReadinessOptions = {},
): RequestHandler {
  return (_request, response, next) => {
    readiness(registry, options).then(({ status, body }) => {
      response.status(status).json(body);
    }, next);
  };
}

/** Options of {@link createHealthRouter}. */
export interface HealthRouterOptions extends ReadinessOptions {
  /** @default '/livez' */
  readonly livenessPath?: string;
  /** @default '/readyz' */
  readonly readinessPath?: string;
}

/**
 * A router with both probes (`GET /livez`, `GET /readyz` by default).
 * @example
 * ```ts
 * app.use(createHealthRouter(registry));
 * ```
 */
export function createHealthRouter(
  registry: CircuitBreakerRegistry,
  options: HealthRouterOptions = {},
): Router {
  const { livenessPath = '/livez', readinessPath = '/readyz', ...readinessOptions } = options;
  const router = express.Router();
  router.get(livenessPath, livenessHandler());
  router.get(readinessPath, readinessHandler(registry, readinessOptions));
  return router;
}

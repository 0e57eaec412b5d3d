import type { CircuitStatus } from '@xnai/cb-core';
import type { ConnectionMode, LastErrorInfo } from '@xnai/cb-redis-connection';
import type { CircuitBreakerRegistry } from './registry.js';

/** What a health probe answers: an HTTP status and a JSON body, usable with any framework. */
export interface HealthResult<TBody> {
  /** `200` healthy, `503` not. */
  readonly status: 200 | 503;
  /** What the probe found, for the response body. */
  readonly body: TBody;
}

/** Body of {@link liveness}. */
export interface LivenessBody {
  /** Always `ok`: a process that answers is alive. */
  readonly status: 'ok';
}

/** Options of {@link readiness}. */
export interface ReadinessOptions {
  /**
   * Answer `503` while Redis is not connected. Off by default: while Redis is away the breakers keep
   * protecting calls on the in-memory mirror, and taking every instance out of rotation because the
   * shared store is down would turn a Redis outage into a service outage.
   * @default false
   */
  readonly requireRedis?: boolean;
}

/** Body of {@link readiness}. */
export interface ReadinessBody {
  /**
   * `ready`: Redis connected (or a memory-only registry). `degraded`: serving, but Redis is not
   * connected (connecting, fallback, refused credentials); the `reasons` say why. `not_ready`: the
   * registry is shutting down, or Redis is required and not connected (or the registry is memory
   * only).
   */
  readonly status: 'ready' | 'degraded' | 'not_ready';
  /** Why the status is not `ready`. */
  readonly reasons: readonly string[];
  /** The Redis connection; `null` for a memory-only registry. */
  readonly redis: {
    readonly mode: ConnectionMode;
    readonly connected: boolean;
    readonly fallbackMode: boolean;
    /** Redis refuses the credentials: an operator must fix the password or ACL. */
    readonly authenticationFailed: boolean;
    readonly lastError: LastErrorInfo | null;
  } | null;
  /**
   * Where circuit state goes now: Redis, the in-memory mirror (Redis unavailable), or memory for
   * good (a memory-only registry).
   */
  readonly store: 'redis' | 'memory' | 'memory_only';
  /** Circuits changed in memory and not yet reconciled into Redis. */
  readonly fallbackStatesCount: number;
  /** Every registered circuit's status. An open circuit never makes the instance unready. */
  readonly circuits: Readonly<Record<string, CircuitStatus>>;
  /** The circuits that reject calls now (open or forced open). */
  readonly openCircuits: readonly string[];
}

const LIVE: HealthResult<LivenessBody> = Object.freeze({
  status: 200,
  body: Object.freeze({ status: 'ok' as const }),
});

/**
 * The liveness probe: the process is running and its event loop answers. It looks at no breaker and
 * no Redis on purpose: a tripped breaker or a Redis outage is no reason to restart an instance, and a
 * restart would lose the in-memory mirror that protects calls meanwhile.
 * @example
 * ```ts
 * const { status, body } = liveness(); // { status: 200, body: { status: 'ok' } }
 * ```
 */
export function liveness(): HealthResult<LivenessBody> {
  return LIVE;
}

/**
 * The readiness probe: whether this instance should take traffic, with every breaker's status and
 * the Redis connection in the body. Open breakers never make it unready (a tripped dependency must
 * not take instances out of rotation); Redis away makes it `degraded` (still `200` unless
 * `requireRedis`); a registry that is shutting down makes it `503`. Touches no network.
 * @example
 * ```ts
 * const { status, body } = await readiness(registry);
 * response.status(status).json(body);
 * ```
 */
export async function readiness(
  registry: CircuitBreakerRegistry,
  options: ReadinessOptions = {},
): Promise<HealthResult<ReadinessBody>> {
  if (typeof registry !== 'object' || registry === null || typeof registry.list !== 'function') {
    throw new TypeError(
      `registry must be a CircuitBreakerRegistry, got ${registry === null ? 'null' : typeof registry}`,
    );
  }
  const requireRedis = options.requireRedis ?? false;
  if (typeof requireRedis !== 'boolean') {
    throw new TypeError(`requireRedis must be a boolean, got ${JSON.stringify(requireRedis)}`);
  }
  const manager = registry.redis;
  const health = manager === null ? null : await manager.getHealthStatus();
  const circuits: Record<string, CircuitStatus> = {};
  const openCircuits: string[] = [];
  for (const name of registry.list()) {
    const status = registry.get(name)?.status;
    if (status === undefined) continue;
    circuits[name] = status;
    if (status === 'open' || status === 'forced_open') openCircuits.push(name);
  }
  const reasons: string[] = [];
  if (registry.closed) reasons.push('the registry is shutting down');
  if (health === null) {
    if (requireRedis) reasons.push('the registry is memory only and Redis is required');
  } else {
    if (health.authenticationFailed) reasons.push('Redis refuses the credentials');
    if (!health.connected) {
      reasons.push(
        health.mode === 'connecting' && !health.fallbackMode
          ? 'Redis is not connected yet'
          : `Redis is unavailable (mode ${health.mode}); circuits run on the in-memory mirror`,
      );
    }
  }
  const notReady = registry.closed || (requireRedis && health?.connected !== true);
  const status = notReady ? 'not_ready' : reasons.length > 0 ? 'degraded' : 'ready';
  return {
    status: notReady ? 503 : 200,
    body: {
      status,
      reasons,
      redis:
        health === null
          ? null
          : {
              mode: health.mode,
              connected: health.connected,
              fallbackMode: health.fallbackMode,
              authenticationFailed: health.authenticationFailed,
              lastError: health.lastError,
            },
      store: registry.memoryOnly ? 'memory_only' : registry.stateManager.redisAvailable ? 'redis' : 'memory',
      fallbackStatesCount: registry.stateManager.getFallbackStatus().fallbackStatesCount,
      circuits,
      openCircuits,
    },
  };
}

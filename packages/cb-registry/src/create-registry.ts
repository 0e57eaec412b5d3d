import { assertInteger } from '@xnai/cb-core';
import { RedisConnectionManager, type RedisConnectionOptions } from '@xnai/cb-redis-connection';
import {
  CircuitBreakerRegistry,
  type CircuitBreakerRegistryOptions,
  REGISTRY_OWN_OPTION_NAMES,
} from './registry.js';
import { STATE_MANAGER_OPTION_NAMES } from './state-manager.js';

/**
 * Options of {@link createCircuitBreakerRegistry}: the connection's and the registry's. `clock` goes to
 * both, so one fake clock drives the connection, the breakers and the times stored in Redis and in
 * the in-memory fallback.
 */
export interface CreateCircuitBreakerRegistryOptions
  extends RedisConnectionOptions,
    Omit<CircuitBreakerRegistryOptions, 'redis' | 'clock'> {
  /**
   * How long the factory waits for Redis before it returns. It returns earlier once connected (and
   * its events subscription is live, a round trip more) or on the first connection error; either way the registry is usable (on the in-memory fallback until
   * Redis answers) and keeps connecting in the background, reconciling once it does.
   * @default 5000
   */
  readonly awaitConnectionMs?: number;
  /**
   * A registry whose circuits live in this process only: no connection manager is created, nothing
   * connects anywhere, and no fallback or reconciliation is ever reported (`registry.memoryOnly`).
   * For a single instance, a development machine or a test. Cannot be combined with connection
   * options (`url`, `host`, ...).
   * @default false
   */
  readonly memoryOnly?: boolean;
}

/** Options that go to the registry; every other one configures the connection manager. */
const REGISTRY_OPTION_NAMES: ReadonlySet<string> = new Set(
  [...STATE_MANAGER_OPTION_NAMES, ...REGISTRY_OWN_OPTION_NAMES].filter(
    (name) => name !== 'redis' && name !== 'clock',
  ),
);

/**
 * The seed's `create_circuit_breaker_registry`: a connection manager from a URL or individual
 * parameters (every option of `RedisConnectionManager`, seed defaults), and a registry on it.
 * Never rejects because Redis is down.
 * @throws {TypeError | RangeError} an option is invalid, naming it and the value.
 * @example
 * ```ts
 * const registry = await createCircuitBreakerRegistry({ url: 'redis://redis:6379/0' });
 * // or: createCircuitBreakerRegistry({ host: 'redis', port: 6379, password: 'secret', db: 0 })
 * ```
 */
export async function createCircuitBreakerRegistry(
  options: CreateCircuitBreakerRegistryOptions = {},
): Promise<CircuitBreakerRegistry> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  const { awaitConnectionMs: awaitRaw, memoryOnly = false, ...rest } = options;
  const awaitConnectionMs = assertInteger('awaitConnectionMs', awaitRaw ?? 5_000, 0, 600_000);
  if (typeof memoryOnly !== 'boolean') {
    throw new TypeError(`memoryOnly must be a boolean, got ${JSON.stringify(memoryOnly)}`);
  }
  const connection: Record<string, unknown> = {};
  const registry: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rest)) {
    if (value === undefined) continue;
    if (key === 'clock') {
      // One clock for all: the connection's timers and durations, the registry's breakers, its
      // stores and the times they write.
      connection[key] = value;
      registry[key] = value;
    } else if (REGISTRY_OPTION_NAMES.has(key)) registry[key] = value;
    else connection[key] = value;
  }
  if (memoryOnly) {
    const given = Object.keys(connection).filter((key) => key !== 'clock');
    if (given.length > 0) {
      throw new TypeError(
        `memoryOnly cannot be combined with connection options: ${given.map((key) => JSON.stringify(key)).join(', ')}`,
      );
    }
    const clock = connection.clock;
    return new CircuitBreakerRegistry({
      ...registry,
      redis: null,
      ...(clock === undefined ? {} : { clock }),
    } as CircuitBreakerRegistryOptions);
  }
  const manager = new RedisConnectionManager(connection as RedisConnectionOptions);
  let created: CircuitBreakerRegistry;
  try {
    created = new CircuitBreakerRegistry({ ...registry, redis: manager } as CircuitBreakerRegistryOptions);
  } catch (error) {
    await manager.disconnect();
    throw error;
  }
  if (awaitConnectionMs === 0) return created;
  const deadline = performance.now() + awaitConnectionMs;
  if (!manager.isConnected) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, awaitConnectionMs);
      timer.unref();
      const errors = manager.onError(finish);
      manager.connect().then(finish, finish);
      function finish(): void {
        clearTimeout(timer);
        errors[Symbol.dispose]();
        resolve();
      }
    });
  }
  // And for the events subscription (a round trip more): circuits registered right after this
  // resolves then read Redis once, with every later change pushed to them, instead of being re-read
  // together once it is live.
  const store = created.stateManager.redisStore;
  if (manager.isConnected && store !== null) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - performance.now()));
      timer.unref();
      store.whenSubscribed().then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  return created;
}

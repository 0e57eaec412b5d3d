import { CircuitOpenError, ClosedError, StoreUnavailableError } from '@xnai/cb-core';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startCleanupLoop } from './cleanup-loop.js';
import { createCircuitBreakerRegistry } from './create-registry.js';
import { CircuitAlreadyRegisteredError } from './errors/circuit-already-registered-error.js';
import { CircuitNotRegisteredError } from './errors/circuit-not-registered-error.js';
import { CircuitRegistryError } from './errors/circuit-registry-error.js';
import { type FallbackAlert, monitorFallback } from './monitor-fallback.js';
import { ENVIRONMENT_PRESETS, RESOURCE_PRESETS, resolveEnvironmentPreset } from './presets.js';
import { CircuitBreakerRegistry } from './registry.js';
import { callWithTieredFallback } from './tiered-fallback.js';

/** A registry whose Redis never answers (nothing listens on port 1): everything runs on the mirror. */
async function offlineRegistry(
  options: { cleanupGraceMs?: number; closeRedisOnCleanup?: boolean } = {},
): Promise<CircuitBreakerRegistry> {
  const redis = new RedisConnectionManager({ port: 1, connectionTimeoutMs: 200 });
  return new CircuitBreakerRegistry({ redis, stateCheckIntervalMs: null, ...options });
}

describe('registration', () => {
  let registry: CircuitBreakerRegistry;
  afterEach(async () => {
    vi.useRealTimers();
    await registry?.cleanup();
  });

  it('returns the same breaker for the same configuration and rejects a different one', async () => {
    registry = await offlineRegistry();
    const classify = () => 'failure' as const;
    const first = registry.registerCircuitBreaker('external_api', {
      failureThreshold: 5,
      classifyError: classify,
    });
    // Defaults spelled out are the same configuration.
    expect(
      registry.register('external_api', {
        failureThreshold: 5,
        successThreshold: 2,
        classifyError: classify,
      }),
    ).toBe(first);
    const error = (() => {
      try {
        registry.registerCircuitBreaker('external_api', { failureThreshold: 6, classifyError: classify });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(CircuitAlreadyRegisteredError.isInstance(error)).toBe(true);
    expect(CircuitRegistryError.isInstance(error)).toBe(true);
    expect((error as CircuitAlreadyRegisteredError).option).toBe('failureThreshold');
    // Functions compare by identity.
    expect(() =>
      registry.registerCircuitBreaker('external_api', {
        failureThreshold: 5,
        classifyError: () => 'failure',
      }),
    ).toThrow(/classifyError differs/);
    expect(() =>
      registry.registerCircuitBreaker(
        'external_api',
        { failureThreshold: 5, classifyError: classify },
        () => 1,
      ),
    ).toThrow(/fallback differs/);
    expect(registry.list()).toEqual(['external_api']);
    expect(registry.get('external_api')).toBe(first);
    expect(await registry.remove('external_api')).toBe(true);
    expect(registry.get('external_api')).toBeUndefined();
  });

  it('validates configuration once, naming the option and the value', async () => {
    registry = await offlineRegistry();
    expect(() => registry.registerCircuitBreaker('a', { failureThreshold: 0 })).toThrow(
      new RangeError('failureThreshold must be a positive integer, got 0'),
    );
    expect(() =>
      registry.registerCircuitBreaker('a', { onRedisUnavailable: 'ignore' as unknown as 'fallback' }),
    ).toThrow(TypeError);
    expect(() => registry.registerCircuitBreaker('a', { onRedisUnavailable: 'ignore' as never })).toThrow(
      /onRedisUnavailable/,
    );
    expect(() => new CircuitBreakerRegistry({ redis: registry.redis, cleanupGraceMs: -1 })).toThrow(
      /cleanupGraceMs must be/,
    );
    await expect(createCircuitBreakerRegistry({ awaitConnectionMs: -5 })).rejects.toThrow(
      /awaitConnectionMs must be .*got -5/,
    );
    await expect(createCircuitBreakerRegistry({ max_connections: 5 } as never)).rejects.toThrow(
      /maxConnections/,
    );
    await expect(registry.callWithCircuitBreaker('missing', () => 1)).rejects.toBeInstanceOf(
      CircuitNotRegisteredError,
    );
  });

  it('keeps protecting on the mirror, and applies fail-open and fail-closed while Redis is unavailable', async () => {
    registry = await offlineRegistry();
    registry.registerCircuitBreaker('guarded', { failureThreshold: 2 });
    registry.registerCircuitBreaker('open-door', { failureThreshold: 2, onRedisUnavailable: 'fail-open' });
    registry.registerCircuitBreaker('shut', { onRedisUnavailable: 'fail-closed' });
    registry.registerCircuitBreaker(
      'shut-with-fallback',
      { onRedisUnavailable: 'fail-closed' },
      () => 'fallback',
    );
    const boom = () => Promise.reject(new Error('down'));
    for (let i = 0; i < 2; i++) {
      await registry.callWithCircuitBreaker('guarded', boom).catch(() => undefined);
      await registry.callWithCircuitBreaker('open-door', boom).catch(() => undefined);
    }
    await expect(registry.callWithCircuitBreaker('guarded', () => 'ok')).rejects.toBeInstanceOf(
      CircuitOpenError,
    );
    expect(await registry.callWithCircuitBreaker('open-door', () => 'ok')).toBe('ok');
    await expect(registry.callWithCircuitBreaker('shut', () => 'ok')).rejects.toSatisfy(
      StoreUnavailableError.isInstance,
    );
    expect(await registry.callWithCircuitBreaker('shut-with-fallback', () => 'ok')).toBe('fallback');
    const status = await registry.getRegistryStatus();
    expect(status.circuits.guarded).toMatchObject({ status: 'open', failureCount: 2 });
    expect(status.fallbackStatus.fallbackStates).toContain('guarded');
  });

  it('lets calls in flight settle on cleanup, then aborts the signal fn was handed and never waits on an fn that ignores it', async () => {
    registry = await offlineRegistry({ cleanupGraceMs: 50 });
    registry.registerCircuitBreaker('slow', { failureThreshold: 1 });
    const quick = registry.callWithCircuitBreaker(
      'slow',
      () => new Promise((resolve) => setTimeout(resolve, 10, 'done')),
    );
    const honours = registry.callWithCircuitBreaker(
      'slow',
      (signal) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
    );
    let finishLater: (error: Error) => void = () => undefined;
    const ignores = registry.callWithCircuitBreaker(
      'slow',
      () =>
        new Promise((_, reject) => {
          finishLater = reject;
        }),
    );
    expect(registry.inFlightCalls).toBe(3);
    const started = performance.now();
    await registry.cleanup();
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(await quick).toBe('done');
    await expect(honours).rejects.toSatisfy(ClosedError.isInstance);
    expect(registry.inFlightCalls).toBe(1);
    finishLater(new Error('upstream failed after cleanup'));
    await expect(ignores).rejects.toThrow('upstream failed after cleanup');
    expect(registry.inFlightCalls).toBe(0);
    await expect(registry.callWithCircuitBreaker('slow', () => 1)).rejects.toSatisfy(ClosedError.isInstance);
  });
});

describe('helpers', () => {
  let registry: CircuitBreakerRegistry;
  afterEach(async () => {
    vi.useRealTimers();
    await registry?.cleanup();
    await registry?.redis?.disconnect();
  });

  it('runs the cleanup loop on its interval and stops it on cleanup', async () => {
    // The connection manager's own timers stay real; only the helper's loop runs on fake time.
    registry = await offlineRegistry({ closeRedisOnCleanup: false });
    vi.useFakeTimers();
    const spy = vi.spyOn(registry.stateManager, 'cleanupExpiredStates');
    const runs: number[] = [];
    startCleanupLoop(registry, { intervalMs: 1_000, onCleanup: (removed) => runs.push(removed) });
    // The first run is at start, as the seed's loop does.
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toEqual([0]);
    await vi.advanceTimersByTimeAsync(3_500);
    expect(runs).toEqual([0, 0, 0, 0]);
    await registry.cleanup();
    const calls = spy.mock.calls.length;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(spy.mock.calls.length).toBe(calls);
    expect(runs).toHaveLength(4);
  });

  it('reports fallback status on every check', async () => {
    // The connection manager's own timers stay real; only the helper's loop runs on fake time.
    registry = await offlineRegistry({ closeRedisOnCleanup: false });
    vi.useFakeTimers();
    const alerts: FallbackAlert[] = [];
    const monitor = monitorFallback(registry, { intervalMs: 60_000, onAlert: (alert) => alerts.push(alert) });
    await vi.advanceTimersByTimeAsync(60_001);
    expect(alerts.map((alert) => alert.kind)).toEqual(['redis_unavailable', 'redis_unavailable']);
    monitor.stop();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(alerts).toHaveLength(2);
    expect(() => monitorFallback(registry, { intervalMs: 0, onAlert: () => undefined })).toThrow(
      new RangeError('intervalMs must be a positive integer, got 0'),
    );
  });

  it('falls through the tiers in order: live call, memory cache, stale data, minimal response', async () => {
    registry = await offlineRegistry();
    registry.registerCircuitBreaker('api');
    const down = () => Promise.reject(new Error('down'));
    const tiersUsed: string[] = [];
    const onFallback = ({ tier }: { tier: string }) => tiersUsed.push(tier);
    expect(await callWithTieredFallback(registry, 'api', () => 'live', { memoryCache: () => 'cached' })).toBe(
      'live',
    );
    expect(
      await callWithTieredFallback(registry, 'api', down, { memoryCache: () => 'cached', onFallback }),
    ).toBe('cached');
    expect(
      await callWithTieredFallback(registry, 'api', down, {
        memoryCache: () => null,
        staleData: async () => 'stale',
        onFallback,
      }),
    ).toBe('stale');
    expect(
      await callWithTieredFallback(registry, 'api', down, {
        memoryCache: () => undefined,
        staleData: () => {
          throw new Error('cache down');
        },
        minimalResponse: 'minimal',
        onFallback,
      }),
    ).toBe('minimal');
    await expect(callWithTieredFallback(registry, 'api', down, {})).rejects.toThrow(/down|open/);
    expect(tiersUsed).toEqual(['memoryCache', 'staleData', 'minimalResponse']);
  });
});

describe('presets', () => {
  it('carry the seed values in milliseconds, frozen', () => {
    expect(ENVIRONMENT_PRESETS.development).toEqual({
      host: 'localhost',
      port: 6379,
      db: 0,
      maxConnections: 10,
      healthCheckIntervalMs: 60_000,
      adaptiveTimeout: true,
    });
    expect(ENVIRONMENT_PRESETS.staging).toMatchObject({
      host: 'redis-staging',
      maxConnections: 50,
      healthCheckIntervalMs: 30_000,
    });
    expect(ENVIRONMENT_PRESETS.production).toEqual({
      maxConnections: 100,
      healthCheckIntervalMs: 10_000,
      adaptiveTimeout: false,
    });
    expect(RESOURCE_PRESETS.lowResource).toEqual({
      maxConnections: 20,
      healthCheckIntervalMs: 60_000,
      connectionTimeoutMs: 10_000,
      socketTimeoutMs: 15_000,
      adaptiveTimeout: true,
    });
    expect(RESOURCE_PRESETS.standard).toMatchObject({
      maxConnections: 50,
      connectionTimeoutMs: 5_000,
      socketTimeoutMs: 10_000,
      adaptiveTimeout: false,
    });
    expect(RESOURCE_PRESETS.highPerformance).toMatchObject({
      maxConnections: 200,
      healthCheckIntervalMs: 10_000,
      connectionTimeoutMs: 2_000,
      socketTimeoutMs: 5_000,
    });
    expect(Object.isFrozen(ENVIRONMENT_PRESETS.production)).toBe(true);
    expect(Object.isFrozen(RESOURCE_PRESETS)).toBe(true);
    // Spread and override.
    expect({ ...RESOURCE_PRESETS.standard, maxConnections: 75 }.maxConnections).toBe(75);
  });

  it('apply the seed environment variables on request', () => {
    expect(
      resolveEnvironmentPreset('staging', { REDIS_HOST: 'redis-2', REDIS_PASSWORD: 'pw' }),
    ).toMatchObject({
      host: 'redis-2',
      password: 'pw',
    });
    expect(resolveEnvironmentPreset('production', { REDIS_URL: 'rediss://r:6380' }).url).toBe(
      'rediss://r:6380',
    );
    expect(resolveEnvironmentPreset('production', {})).not.toHaveProperty('url');
    expect(() => resolveEnvironmentPreset('qa', {})).toThrow(
      new RangeError('environment must be one of development, staging, production, got "qa"'),
    );
  });
});

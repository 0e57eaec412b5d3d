// The usage examples of the seed design, translated into TypeScript, against a real Redis.
import { CircuitOpenError, type CircuitStateData } from '@xnai/cb-core';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { type RedisServer, startRedis, waitFor } from '@xnai/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CircuitBreakerStateManager,
  callWithTieredFallback,
  createCircuitBreakerRegistry,
  ENVIRONMENT_PRESETS,
  type FallbackAlert,
  monitorFallback,
  RESOURCE_PRESETS,
  startCleanupLoop,
} from './index.js';

const FAST = {
  operationTimeoutMs: 100,
  fallbackProbeIntervalMs: 50,
  recoveryThreshold: 2,
  reconnectMaxDelayMs: 100,
};

describe('the seed design, example by example', () => {
  let server: RedisServer;
  let secured: RedisServer;

  beforeAll(async () => {
    server = await startRedis({ controllable: true });
    secured = await startRedis({ password: 'secret' });
  });
  afterAll(async () => {
    await server?.stop();
    await secured?.stop();
  });

  it('RedisConnectionManager: connect, health status, disconnect', async () => {
    const redisMgr = new RedisConnectionManager({
      url: server.url,
      maxConnections: 50,
      healthCheckIntervalMs: 30_000,
      adaptiveTimeout: true,
      connectionTimeoutMs: 5_000,
      socketTimeoutMs: 10_000,
    });
    expect(await redisMgr.connect()).toBe(true);
    expect(redisMgr.isConnected).toBe(true);
    const health = await redisMgr.getHealthStatus();
    expect(health).toMatchObject({
      connected: true,
      fallbackMode: false,
      host: '127.0.0.1',
      port: server.port,
      db: 0,
      maxConnections: 50,
    });
    expect(health.poolSize).toBeGreaterThanOrEqual(1);
    await redisMgr.disconnect();
    expect(redisMgr.isConnected).toBe(false);
  });

  it('CircuitBreakerStateManager: get, set, delete, list, cleanup, fallback status', async () => {
    const redisMgr = new RedisConnectionManager({ url: server.url, ...FAST });
    await redisMgr.connect();
    const stateMgr = new CircuitBreakerStateManager({ redis: redisMgr, keyPrefix: 'seed-sm:' });

    expect(await stateMgr.getState('my_circuit')).toBeUndefined(); // "Not Found: Return None"
    const now = Date.now();
    const state: CircuitStateData = {
      ...(await import('@xnai/cb-core')).createInitialState(now),
      state: 'closed',
      failureCount: 0,
      successCount: 5,
      lastFailureTime: 0,
      lastSuccessTime: now,
      lastStateChange: now,
    };
    expect(await stateMgr.setState('my_circuit', state)).toBe(true); // True: Redis took it
    const fetched = await stateMgr.getState('my_circuit');
    expect(fetched).toMatchObject({
      state: 'closed',
      failureCount: 0,
      successCount: 5,
      lastSuccessTime: now,
    });
    // The key is circuit_breaker-style `<prefix><name>` with the seed's one-hour TTL.
    const ttl = await redisMgr.execute((client) => client.pttl('seed-sm:my_circuit'));
    expect(ttl).toBeGreaterThan(3_590_000);

    await stateMgr.setState('circuit2', state);
    const allStates = await stateMgr.getAllStates();
    expect([...allStates.keys()].sort()).toEqual(['circuit2', 'my_circuit']);

    expect(stateMgr.cleanupExpiredStates()).toBe(0); // nothing is an hour old
    expect(stateMgr.getFallbackStatus()).toMatchObject({ fallbackStatesCount: 0, fallbackStates: [] });

    expect(await stateMgr.deleteState('my_circuit')).toBe(true); // removed from both layers
    expect(await stateMgr.getState('my_circuit')).toBeUndefined();
    expect(await stateMgr.memoryStore.getState('my_circuit')).toBeUndefined();
    await stateMgr.close();
    await redisMgr.disconnect();
  });

  it("the seed's unit test: fallback on Redis disconnect", async () => {
    const redisMgr = new RedisConnectionManager({ url: server.url, ...FAST });
    await redisMgr.connect();
    const stateMgr = new CircuitBreakerStateManager({ redis: redisMgr, keyPrefix: 'seed-unit:' });
    const now = Date.now();
    const state: CircuitStateData = {
      ...(await import('@xnai/cb-core')).createInitialState(now),
      successCount: 5,
      lastFailureTime: now,
      lastSuccessTime: now,
    };
    expect(await stateMgr.setState('test_circuit', state)).toBe(true);
    expect((await stateMgr.getState('test_circuit'))?.state).toBe('closed');

    await server.kill(); // simulate the Redis disconnect with a real one
    await waitFor(() => redisMgr.fallbackMode, { timeoutMs: 2_000 });
    expect(redisMgr.fallbackMode).toBe(true);
    expect((await stateMgr.getState('test_circuit'))?.state).toBe('closed');
    // "Set state: False if using fallback"
    expect(await stateMgr.setState('test_circuit', { ...state, successCount: 6 })).toBe(false);
    expect(stateMgr.getFallbackStatus()).toMatchObject({
      fallbackStatesCount: 1,
      fallbackStates: ['test_circuit'],
    });

    await server.restart();
    // The seed's recover_fallback_states, done by the state manager itself.
    await waitFor(() => stateMgr.getFallbackStatus().fallbackStatesCount === 0, { timeoutMs: 3_000 });
    expect((await stateMgr.getState('test_circuit'))?.successCount).toBe(6);
    await stateMgr.close();
    await redisMgr.disconnect();
  });

  it('CircuitBreakerRegistry: register, call, fallback, status, cleanup', async () => {
    const registry = await createCircuitBreakerRegistry({
      url: `${server.url}/0`,
      keyPrefix: 'seed-reg:',
      ...FAST,
    });
    const config = {
      failureThreshold: 5,
      successThreshold: 2,
      openTimeoutMs: 60_000,
      maxOpenTimeoutMs: 300_000,
    };
    const fallbackResponse = async () => ({ status: 'service unavailable', fallback: true });
    registry.registerCircuitBreaker('external_api', config, fallbackResponse);
    registry.registerCircuitBreaker('database', config);
    registry.registerCircuitBreaker('cache', config);

    const callExternalApi = async () => ({ data: [1, 2, 3] });
    expect(await registry.callWithCircuitBreaker('external_api', callExternalApi)).toEqual({
      data: [1, 2, 3],
    });
    // Five failures open it; the fallback answers then, and once open.
    for (let i = 0; i < 5; i++) {
      expect(
        await registry.callWithCircuitBreaker('external_api', () => Promise.reject(new Error('503'))),
      ).toEqual({
        status: 'service unavailable',
        fallback: true,
      });
    }
    let ran = false;
    expect(
      await registry.callWithCircuitBreaker('external_api', () => {
        ran = true;
        return callExternalApi();
      }),
    ).toEqual({ status: 'service unavailable', fallback: true });
    expect(ran).toBe(false);
    // Without a fallback function, an open circuit rejects.
    await registry.forceOpen('database', { reason: 'maintenance', durationMs: 60_000 });
    expect(registry.get('database')?.status).toBe('forced_open');
    await expect(registry.callWithCircuitBreaker('database', () => 'rows')).rejects.toBeInstanceOf(
      CircuitOpenError,
    );

    const status = await registry.getRegistryStatus();
    expect(status.redisStatus).toMatchObject({ connected: true, fallbackMode: false });
    expect(status.redisStatus?.poolSize).toBeGreaterThanOrEqual(1);
    expect(status.fallbackStatus).toMatchObject({ fallbackStatesCount: 0, fallbackStates: [] });
    expect(status.registeredCircuits).toEqual(['external_api', 'database', 'cache']);
    expect(status.totalCircuits).toBe(3);
    expect(status.circuits.external_api).toMatchObject({ status: 'open', state: 'open' });
    expect(status.circuits.database).toMatchObject({
      status: 'forced_open',
      override: { reason: 'maintenance' },
    });
    expect(status.circuits.cache).toMatchObject({ status: 'closed', failureCount: 0 });

    await registry.reset('database');
    expect(registry.get('database')?.status).toBe('closed');
    await registry.cleanup(); // expires old states and closes Redis
    expect(registry.redis?.mode).toBe('closed');
  });

  it('the factory from individual parameters, with a password', async () => {
    const registry = await createCircuitBreakerRegistry({
      host: secured.host,
      port: secured.port,
      password: 'secret',
      db: 0,
      ...FAST,
    });
    registry.registerCircuitBreaker('database', { failureThreshold: 5, openTimeoutMs: 60_000 }, () => ({
      error: 'database unavailable',
    }));
    expect(await registry.callWithCircuitBreaker('database', async () => [{ id: 1 }])).toEqual([{ id: 1 }]);
    const status = await registry.getRegistryStatus();
    expect(status.redisStatus?.connected).toBe(true);
    expect(JSON.stringify(status)).not.toContain('secret');
    await registry.cleanup();
  });

  it('multi-environment and resource presets feed the factory', async () => {
    const registry = await createCircuitBreakerRegistry({
      ...ENVIRONMENT_PRESETS.development,
      ...RESOURCE_PRESETS.lowResource,
      host: server.host,
      port: server.port,
      ...FAST,
    });
    const health = await (registry.redis as RedisConnectionManager).getHealthStatus();
    expect(health).toMatchObject({
      connected: true,
      maxConnections: 20,
      connectionTimeoutMs: 10_000,
      socketTimeoutMs: 15_000,
    });
    await registry.cleanup();
  });

  it('fallback recovery monitoring, tiered fallbacks and the cleanup loop', async () => {
    const registry = await createCircuitBreakerRegistry({ url: server.url, keyPrefix: 'seed-ops:', ...FAST });
    registry.registerCircuitBreaker('search', { failureThreshold: 1, openTimeoutMs: 60_000 });
    const alerts: FallbackAlert['kind'][] = [];
    monitorFallback(registry, { intervalMs: 50, onAlert: (alert) => alerts.push(alert.kind) });
    const cleanups: number[] = [];
    startCleanupLoop(registry, { intervalMs: 50, onCleanup: (removed) => cleanups.push(removed) });
    await waitFor(() => alerts.includes('healthy') && cleanups.length > 0);

    await server.kill();
    await waitFor(() => alerts.at(-1) === 'redis_unavailable', { timeoutMs: 2_000 });
    const memoryCache = new Map<string, string>([['search', 'cached results']]);
    expect(
      await callWithTieredFallback(registry, 'search', () => Promise.reject(new Error('timeout')), {
        memoryCache: (name) => memoryCache.get(name),
        staleData: () => 'stale results',
        minimalResponse: 'no results',
      }),
    ).toBe('cached results');
    // The failure opened the circuit in memory; the next call is rejected, and the tiers answer.
    expect(registry.get('search')?.status).toBe('open');
    expect(
      await callWithTieredFallback(registry, 'search', () => 'live', { staleData: () => 'stale results' }),
    ).toBe('stale results');

    await server.restart();
    await waitFor(() => alerts.at(-1) === 'healthy', { timeoutMs: 3_000 });
    await registry.cleanup();
    const after = alerts.length;
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(alerts.length).toBe(after);
  });
});

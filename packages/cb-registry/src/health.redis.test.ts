import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { getFreePort, type RedisServer, startRedis, waitFor } from '@xnai/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCircuitBreakerRegistry } from './create-registry.js';
import { liveness, readiness } from './health.js';
import { CircuitBreakerRegistry } from './registry.js';

const FAST = {
  operationTimeoutMs: 100,
  fallbackProbeIntervalMs: 50,
  recoveryThreshold: 2,
  reconnectMaxDelayMs: 100,
  connectionTimeoutMs: 1_000,
};
const boom = (): Promise<never> => Promise.reject(new Error('down'));

let server: RedisServer;
let prefixes = 0;

beforeAll(async () => {
  server = await startRedis({ controllable: true });
});
afterAll(async () => {
  await server?.stop();
});

async function start(): Promise<CircuitBreakerRegistry> {
  const manager = new RedisConnectionManager({ url: server.url, ...FAST });
  await manager.connect();
  return new CircuitBreakerRegistry({ redis: manager, keyPrefix: `health${++prefixes}:` });
}

describe('health probes', () => {
  it('readiness stays 200 with an open breaker and reports it in the body; liveness ignores it', async () => {
    const registry = await start();
    try {
      registry.registerCircuitBreaker('payments', { failureThreshold: 1 });
      registry.registerCircuitBreaker('search');
      await registry.callWithCircuitBreaker('payments', boom).catch(() => undefined);
      expect(registry.get('payments')?.status).toBe('open');
      const ready = await readiness(registry);
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({
        status: 'ready',
        reasons: [],
        redis: { mode: 'connected', connected: true, fallbackMode: false, authenticationFailed: false },
        store: 'redis',
        circuits: { payments: 'open', search: 'closed' },
        openCircuits: ['payments'],
      });
      await registry.forceOpen('search');
      expect((await readiness(registry)).body.openCircuits).toEqual(['payments', 'search']);
      expect((await readiness(registry)).status).toBe(200);
      expect(liveness()).toEqual({ status: 200, body: { status: 'ok' } });
    } finally {
      await registry.cleanup();
    }
  });

  it('Redis killed: readiness says degraded (200) with the mode, 503 only with requireRedis; liveness stays 200', async () => {
    const registry = await start();
    try {
      registry.registerCircuitBreaker('x');
      await server.kill();
      await waitFor(() => registry.redis?.fallbackMode === true, { timeoutMs: 5_000 });
      const degraded = await readiness(registry);
      expect(degraded.status).toBe(200);
      expect(degraded.body.status).toBe('degraded');
      expect(degraded.body.redis).toMatchObject({ connected: false, fallbackMode: true });
      expect(degraded.body.store).toBe('memory');
      expect(degraded.body.reasons.join()).toMatch(/Redis is unavailable \(mode (fallback|connecting)\)/);
      const required = await readiness(registry, { requireRedis: true });
      expect(required.status).toBe(503);
      expect(required.body.status).toBe('not_ready');
      expect(liveness().status).toBe(200);
      await server.restart();
      await waitFor(async () => (await readiness(registry)).body.status === 'ready', { timeoutMs: 10_000 });
      expect((await readiness(registry, { requireRedis: true })).status).toBe(200);
    } finally {
      await registry.cleanup();
    }
  });

  it('a starting instance that cannot reach Redis says so at once, not after its connect attempts', async () => {
    const port = await getFreePort();
    const registry = await createCircuitBreakerRegistry({
      url: `redis://127.0.0.1:${port}`,
      awaitConnectionMs: 0,
    });
    try {
      const starting = await readiness(registry);
      expect(starting.status).toBe(200);
      expect(starting.body.status).toBe('degraded');
      expect(starting.body.redis?.connected).toBe(false);
      expect(starting.body.reasons.length).toBeGreaterThan(0);
      await waitFor(() => registry.redis?.fallbackMode === true, { timeoutMs: 5_000 });
      expect((await readiness(registry)).body.redis?.fallbackMode).toBe(true);
    } finally {
      await registry.cleanup();
    }
  });

  it('a wrong password is visible in the readiness body (authenticationFailed) and the instance still serves', async () => {
    const secured = await startRedis({ password: 'right-password' });
    const url = new URL(secured.url);
    url.password = 'wrong-password';
    const registry = await createCircuitBreakerRegistry({ url: url.toString(), ...FAST });
    try {
      registry.registerCircuitBreaker('x');
      await waitFor(() => registry.redis?.fallbackMode === true, { timeoutMs: 5_000 });
      const result = await readiness(registry);
      expect(result.status).toBe(200);
      expect(result.body.status).toBe('degraded');
      expect(result.body.redis?.authenticationFailed).toBe(true);
      expect(result.body.reasons).toContain('Redis refuses the credentials');
      expect(JSON.stringify(result.body)).not.toContain('wrong-password');
      expect(await registry.callWithCircuitBreaker('x', () => 'served')).toBe('served');
    } finally {
      await registry.cleanup();
      await secured.stop();
    }
  });

  it('readiness is 503 once cleanup() started; liveness is not', async () => {
    const registry = await start();
    registry.registerCircuitBreaker('x');
    await registry.cleanup();
    const result = await readiness(registry);
    expect(result.status).toBe(503);
    expect(result.body.status).toBe('not_ready');
    expect(result.body.reasons).toContain('the registry is shutting down');
    expect(liveness().status).toBe(200);
  });

  it('validates its arguments', async () => {
    await expect(readiness(null as never)).rejects.toThrow(
      'registry must be a CircuitBreakerRegistry, got null',
    );
    const registry = await start();
    try {
      await expect(readiness(registry, { requireRedis: 'yes' as never })).rejects.toThrow(
        'requireRedis must be a boolean, got "yes"',
      );
    } finally {
      await registry.cleanup();
    }
  });
});

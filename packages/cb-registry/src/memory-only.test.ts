import { CircuitOpenError } from '@xnai/cb-core';
import { describeStoreContract } from '@xnai/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { createCircuitBreakerRegistry } from './create-registry.js';
import { readiness } from './health.js';
import { CircuitBreakerRegistry, type RegistryEvent } from './registry.js';
import { CircuitBreakerStateManager } from './state-manager.js';

describeStoreContract('CircuitBreakerStateManager, memory only', {
  create: () => new CircuitBreakerStateManager({ redis: null }),
  createWithTtl: (ttlMs) => new CircuitBreakerStateManager({ redis: null, ttlMs }),
});

/** Sockets and connection attempts this process holds now. */
function networkResources(): string[] {
  return process.getActiveResourcesInfo().filter((kind) => /TCP|Pipe|DNS|GetAddrInfo/i.test(kind));
}

describe('a memory-only registry', () => {
  let registry: CircuitBreakerRegistry | undefined;
  afterEach(async () => {
    await registry?.cleanup();
    registry = undefined;
  });

  it('protects calls with no connection attempt, no Redis error and nothing to reconcile', async () => {
    const before = networkResources();
    const lines: string[] = [];
    const logger = {
      info: (message: string) => lines.push(`info ${message}`),
      warn: (message: string) => lines.push(`warn ${message}`),
      error: (message: string) => lines.push(`error ${message}`),
    };
    registry = await createCircuitBreakerRegistry({ memoryOnly: true, logger });
    const events: RegistryEvent[] = [];
    registry.onEvent((event) => events.push(event));
    expect(registry.memoryOnly).toBe(true);
    expect(registry.redis).toBeNull();
    expect(registry.stateManager.memoryOnly).toBe(true);
    expect(registry.stateManager.redisStore).toBeNull();

    registry.registerCircuitBreaker('inventory', { failureThreshold: 2, openTimeoutMs: 60_000 });
    await expect(registry.callWithCircuitBreaker('inventory', () => 'stock')).resolves.toBe('stock');
    for (let i = 0; i < 2; i++) {
      await expect(
        registry.callWithCircuitBreaker('inventory', () => Promise.reject(new Error('down'))),
      ).rejects.toThrow('down');
    }
    await expect(registry.callWithCircuitBreaker('inventory', () => 'stock')).rejects.toSatisfy(
      CircuitOpenError.isInstance,
    );
    await registry.reset('inventory');
    await expect(registry.callWithCircuitBreaker('inventory', () => 'again')).resolves.toBe('again');

    const status = await registry.getRegistryStatus();
    expect(status).toMatchObject({ memoryOnly: true, redisStatus: null, totalCircuits: 1 });
    expect(status.fallbackStatus.fallbackStatesCount).toBe(0);
    const ready = await readiness(registry);
    expect(ready).toMatchObject({
      status: 200,
      body: { status: 'ready', store: 'memory_only', redis: null },
    });
    expect((await readiness(registry, { requireRedis: true })).status).toBe(503);

    expect(events.map((event) => event.type).filter((type) => type !== 'state_change')).toEqual([]);
    expect(lines.filter((line) => !line.startsWith('info'))).toEqual([]);
    expect(networkResources()).toEqual(before);
  });

  it('is what `redis: null` makes, and cleanup() leaves nothing behind', async () => {
    registry = new CircuitBreakerRegistry({ redis: null });
    expect(registry.memoryOnly).toBe(true);
    registry.registerCircuitBreaker('a');
    await registry.callWithCircuitBreaker('a', () => 1);
    await registry.cleanup();
    await expect(registry.callWithCircuitBreaker('a', () => 1)).rejects.toThrow(/cleanup|closed/i);
  });

  it('takes its times from the factory clock, for breakers and stored state alike', async () => {
    const t2001 = Date.UTC(2001, 0, 1);
    let offset = 0;
    const clock = {
      now: () => t2001 + offset,
      setTimeout: (callback: () => void, delayMs: number) => {
        const handle = setTimeout(callback, delayMs);
        handle.unref();
        return handle;
      },
      clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
    };
    registry = await createCircuitBreakerRegistry({ memoryOnly: true, clock });
    registry.registerCircuitBreaker('clocked', { failureThreshold: 1, openTimeoutMs: 1_000 });
    const forced = await registry.forceOpen('clocked', { reason: 'maintenance', durationMs: 5_000 });
    expect(forced.override).toMatchObject({ setAt: t2001, expiresAt: t2001 + 5_000 });
    await registry.clearOverride('clocked');
    offset = 10;
    await expect(
      registry.callWithCircuitBreaker('clocked', () => Promise.reject(new Error('down'))),
    ).rejects.toThrow('down');
    const data = registry.get('clocked')?.stateData;
    expect(data).toMatchObject({ state: 'open', lastFailureTime: t2001 + 10, openUntil: t2001 + 1_010 });
  });

  it('relays a circuit’s changes once when it is removed and registered again while the old breaker closes', async () => {
    registry = await createCircuitBreakerRegistry({ memoryOnly: true });
    const events: string[] = [];
    registry.onEvent((event) => {
      if (event.type === 'state_change') events.push(`${event.name}:${event.from}>${event.to}`);
    });
    const old = registry.registerCircuitBreaker('payments');
    await registry.callWithCircuitBreaker('payments', () => 'ok');
    const removing = registry.remove('payments');
    const fresh = registry.registerCircuitBreaker('payments');
    expect(fresh).not.toBe(old);
    // Pushed to both breakers in this same turn: the old one is still closing.
    const forcing = registry.forceOpen('payments');
    await Promise.all([removing, forcing]);
    await fresh.refresh();
    expect(fresh.status).toBe('forced_open');
    expect(events).toEqual(['payments:closed>forced_open']);
  });

  it('refuses connection options next to memoryOnly, and a memoryOnly that is not a boolean', async () => {
    await expect(
      createCircuitBreakerRegistry({ memoryOnly: true, url: 'redis://localhost:6379' }),
    ).rejects.toThrow(/memoryOnly cannot be combined with connection options: "url"/);
    await expect(createCircuitBreakerRegistry({ memoryOnly: 'yes' as unknown as boolean })).rejects.toThrow(
      /memoryOnly must be a boolean/,
    );
    expect(() => new CircuitBreakerRegistry({ redis: 'redis://x' as never })).toThrow(
      /redis must be a RedisConnectionManager or null/,
    );
  });
});

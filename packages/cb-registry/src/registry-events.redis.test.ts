import type { CallEvent } from '@xnai/cb-core';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { type RedisServer, startRedis, waitFor } from '@xnai/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CircuitBreakerRegistry, type RegistryEvent } from './registry.js';
import type { StoreOperationEvent } from './state-manager.js';

const FAST = {
  operationTimeoutMs: 100,
  fallbackProbeIntervalMs: 50,
  recoveryThreshold: 2,
  reconnectMaxDelayMs: 100,
  connectionTimeoutMs: 1_000,
};
const boom = (): Promise<never> => Promise.reject(new Error('down'));

let server: RedisServer;
let registry: CircuitBreakerRegistry | undefined;
let prefixes = 0;

beforeAll(async () => {
  server = await startRedis({ controllable: true });
});
afterEach(async () => {
  await registry?.cleanup();
  registry = undefined;
});
afterAll(async () => {
  await server?.stop();
});

async function start(options: { logger?: ReturnType<typeof logged> } = {}): Promise<CircuitBreakerRegistry> {
  const manager = new RedisConnectionManager({ url: server.url, ...FAST });
  await manager.connect();
  registry = new CircuitBreakerRegistry({
    redis: manager,
    keyPrefix: `events${++prefixes}:`,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  return registry;
}

function logged(lines: string[]) {
  return {
    info: (message: string) => lines.push(`info ${message}`),
    warn: (message: string) => lines.push(`warn ${message}`),
    error: (message: string) => lines.push(`error ${message}`),
  };
}

describe('registry events for operators and metrics', () => {
  it('relays every call of every breaker, registered before or after, until the last listener goes', async () => {
    const r = await start();
    r.registerCircuitBreaker('early');
    const events: CallEvent[] = [];
    const subscription = r.onCall((event) => events.push(event));
    r.registerCircuitBreaker('late', { failureThreshold: 1 });
    await r.callWithCircuitBreaker('early', () => 'ok');
    await r.callWithCircuitBreaker('late', boom).catch(() => undefined);
    await r.callWithCircuitBreaker('late', () => 'never').catch(() => undefined);
    expect(events.map((event) => [event.name, event.type])).toEqual([
      ['early', 'success'],
      ['late', 'failure'],
      ['late', 'rejected'],
    ]);
    subscription.dispose();
    await r.callWithCircuitBreaker('early', () => 'ok');
    expect(events).toHaveLength(3);
  });

  it('reports where each store operation was served, and each change that reached only memory', async () => {
    const lines: string[] = [];
    const r = await start({ logger: logged(lines) });
    r.registerCircuitBreaker('x', { failureThreshold: 10 });
    const operations: StoreOperationEvent[] = [];
    r.stateManager.onOperation((event) => operations.push(event));
    const events: RegistryEvent[] = [];
    r.onEvent((event) => events.push(event));
    await r.callWithCircuitBreaker('x', boom).catch(() => undefined);
    await r.get('x')?.flush();
    expect(operations.at(-1)).toMatchObject({
      name: 'x',
      operation: 'record',
      servedBy: 'redis',
      memoryOnly: false,
    });
    await server.kill();
    await waitFor(() => r.redis?.fallbackMode === true, { timeoutMs: 3_000 });
    await r.callWithCircuitBreaker('x', boom).catch(() => undefined);
    await r.get('x')?.flush();
    expect(operations.at(-1)).toMatchObject({ operation: 'record', servedBy: 'memory', memoryOnly: true });
    expect(events.filter((event) => event.type === 'fallback_write')).toMatchObject([
      { type: 'fallback_write', name: 'x', operation: 'record' },
    ]);
    expect(lines).toContain(
      'warn State of circuit "x" stored in fallback only (record); merged when Redis is back',
    );
    expect(lines.some((line) => line.startsWith('warn Redis unavailable'))).toBe(true);
    await server.restart();
    await waitFor(() => lines.some((line) => line.startsWith('info Reconciled')), { timeoutMs: 5_000 });
    expect(lines.some((line) => line.startsWith('info Redis back after'))).toBe(true);
  });

  it('rejects a logger without info, warn and error', async () => {
    const manager = new RedisConnectionManager({ url: server.url, ...FAST });
    expect(
      () => new CircuitBreakerRegistry({ redis: manager, logger: { warn: () => undefined } as never }),
    ).toThrow('logger must have info, warn and error functions');
    await manager.disconnect();
  });

  it('announces refused credentials as an authentication_failed event and an error log line, without the password', async () => {
    const secured = await startRedis({ password: 'right-password' });
    const url = new URL(secured.url);
    url.password = 'wrong-password';
    const lines: string[] = [];
    const manager = new RedisConnectionManager({ url: url.toString(), ...FAST });
    const refused = new CircuitBreakerRegistry({ redis: manager, logger: logged(lines) });
    const events: RegistryEvent[] = [];
    refused.onEvent((event) => events.push(event));
    try {
      await waitFor(() => events.some((event) => event.type === 'authentication_failed'), {
        timeoutMs: 10_000,
        message: 'an authentication_failed event',
      });
      const event = events.find((candidate) => candidate.type === 'authentication_failed');
      expect(event).toMatchObject({ error: { code: 'ERR_REDIS_AUTHENTICATION' } });
      expect(lines.some((line) => line.startsWith('error Redis refused the credentials'))).toBe(true);
      expect(JSON.stringify(events)).not.toContain('wrong-password');
      expect(lines.join('\n')).not.toContain('wrong-password');
    } finally {
      await refused.cleanup();
      await secured.stop();
    }
  });
});

import { CircuitBreaker, type CircuitStateData, createInitialState, resolvePolicy } from '@xnai/cb-core';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { RedisStateStore } from '@xnai/cb-store-redis';
import { type RedisServer, startFaultProxy, startRedis, waitFor } from '@xnai/test-utils';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CircuitBreakerStateManager, type ReconciledEvent } from './state-manager.js';

const FAST = {
  operationTimeoutMs: 100,
  fallbackProbeIntervalMs: 50,
  recoveryThreshold: 2,
  reconnectMaxDelayMs: 100,
  connectionTimeoutMs: 1_000,
};
const policy = resolvePolicy({ failureThreshold: 3, openTimeoutMs: 60_000 });

describe('CircuitBreakerStateManager against a real Redis', () => {
  let server: RedisServer;
  let observer: Redis;
  let manager: RedisConnectionManager;
  let stateManager: CircuitBreakerStateManager;
  let prefix: string;
  let counter = 0;

  beforeAll(async () => {
    server = await startRedis({ controllable: true });
  });
  afterAll(async () => {
    await server?.stop();
  });
  const start = async (): Promise<void> => {
    prefix = `sm${++counter}:`;
    manager = new RedisConnectionManager({ url: server.url, ...FAST });
    await manager.connect();
    stateManager = new CircuitBreakerStateManager({
      redis: manager,
      keyPrefix: prefix,
      stateCheckIntervalMs: 100,
    });
    await stateManager.redisStore?.whenSubscribed();
    observer = new Redis(server.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    await observer.connect();
  };
  afterEach(async () => {
    await stateManager?.close();
    await manager?.disconnect();
    observer?.disconnect();
  });
  const inRedis = (name: string) =>
    new RedisStateStore({ redis: observer, keyPrefix: prefix }).getState(name);

  it('does not undo a change pushed while a reconciliation read that found nothing was on its way back', async () => {
    await start();
    // Its own manager: the read is held back longer than FAST's 100 ms operation timeout.
    const patient = new RedisConnectionManager({ url: server.url, ...FAST, operationTimeoutMs: 5_000 });
    await patient.connect();
    const mine = new CircuitBreakerStateManager({
      redis: patient,
      keyPrefix: prefix,
      stateCheckIntervalMs: null,
    });
    await mine.redisStore?.whenSubscribed();
    const breaker = new CircuitBreaker({ name: 'payments', store: mine, failureThreshold: 5 });
    try {
      // A circuit this instance served (a failure counted), which Redis then lost.
      await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => undefined);
      await breaker.flush();
      expect((await inRedis('payments'))?.failureCount).toBe(1);
      await observer.del(`${prefix}payments`);
      // The reconciliation's read finds nothing at once; its answer is slow to come back...
      const redisStore = mine.redisStore as RedisStateStore;
      const peek = redisStore.peek.bind(redisStore);
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      redisStore.peek = async (name) => {
        const stored = await peek(name);
        await held;
        return stored;
      };
      const reconciled = mine.reconcile();
      await new Promise((resolve) => setTimeout(resolve, 50));
      // ...meanwhile another instance counts two failures (a count leaving zero is pushed).
      const elsewhere = new RedisStateStore({ redis: observer, keyPrefix: prefix });
      await elsewhere.record(
        'payments',
        [{ kind: 'failure' }, { kind: 'failure' }],
        resolvePolicy({ failureThreshold: 5 }),
      );
      await waitFor(() => breaker.stateData.failureCount === 2, {
        timeoutMs: 2_000,
        message: 'the push arrived',
      });
      release();
      await reconciled;
      redisStore.peek = peek;
      // The stale "nothing" must not take the view back to a fresh circuit.
      expect(breaker.stateData.failureCount).toBe(2);
      expect((await inRedis('payments'))?.failureCount).toBe(2);
    } finally {
      await breaker.close();
      await mine.close();
      await patient.disconnect();
    }
  });

  it('takes what Redis holds after it lost its data, also at a version equal to the copy held for other content', async () => {
    await start();
    // One frozen clock for the whole fleet: after a FLUSHALL, Redis's versions start again from it, so
    // the next write gets the version the circuit had before (as in the same millisecond, or after a
    // failover to a Redis whose clock is behind).
    const now = Date.UTC(2026, 11, 1, 12);
    const clock = {
      now: () => now,
      setTimeout: (callback: () => void, delayMs: number) => setTimeout(callback, delayMs),
      clearTimeout: (handle: unknown) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    };
    const proxy = await startFaultProxy({ target: server });
    const cutOff = new RedisConnectionManager({ url: proxy.url, ...FAST });
    await cutOff.connect();
    const mine = new CircuitBreakerStateManager({
      redis: cutOff,
      keyPrefix: prefix,
      clock,
      useClientTime: true,
      stateCheckIntervalMs: null,
    });
    await mine.redisStore?.whenSubscribed();
    const breaker = new CircuitBreaker({ name: 'payments', store: mine });
    const elsewhere = new RedisStateStore({ redis: observer, keyPrefix: prefix, clock, useClientTime: true });
    try {
      await breaker.refresh();
      await elsewhere.setState('payments', createInitialState(now));
      await waitFor(() => breaker.stateData.decidedAt === now, {
        timeoutMs: 2_000,
        message: 'the set pushed',
      });
      const before = breaker.stateData.version;
      await observer.flushall();
      // Cut off while another instance forces the circuit closed: the push does not reach it.
      proxy.setMode('reset');
      await waitFor(() => cutOff.fallbackMode, { timeoutMs: 3_000, message: 'fallback' });
      await elsewhere.override('payments', { mode: 'forced_closed' }, resolvePolicy({}));
      const forced = await inRedis('payments');
      expect(forced?.override?.mode).toBe('forced_closed');
      expect(forced?.version).toBe(before);
      // Back: the reconciliation reads Redis's copy, of the version it holds, with other content.
      proxy.setMode('pass');
      await waitFor(() => breaker.stateData.override?.mode === 'forced_closed', {
        timeoutMs: 3_000,
        message: 'the view takes the forced state',
      });
      expect((await mine.memoryStore.getState('payments'))?.override?.mode).toBe('forced_closed');
    } finally {
      await breaker.close();
      await mine.close();
      await cutOff.disconnect();
      await proxy.close();
    }
  });

  it('keeps the seed semantics of set, get, delete and list, mirroring what Redis returned', async () => {
    await start();
    const data: CircuitStateData = {
      ...createInitialState(Date.now()),
      successCount: 5,
      lastSuccessTime: Date.now(),
    };
    expect(await stateManager.setState('my_circuit', data)).toBe(true);
    expect(await stateManager.getState('my_circuit')).toMatchObject({ state: 'closed', successCount: 5 });
    expect((await inRedis('my_circuit'))?.successCount).toBe(5);
    expect((await stateManager.memoryStore.getState('my_circuit'))?.successCount).toBe(5);
    await stateManager.record('other', [{ kind: 'failure' }], policy);
    expect([...(await stateManager.getAllStates()).keys()].sort()).toEqual(['my_circuit', 'other']);
    expect(stateManager.getFallbackStatus()).toEqual({
      fallbackStatesCount: 0,
      fallbackStates: [],
      mirroredStatesCount: 2,
    });
    expect(await stateManager.deleteState('my_circuit')).toBe(true);
    expect(await stateManager.getState('my_circuit')).toBeUndefined();
    expect(await stateManager.memoryStore.getState('my_circuit')).toBeUndefined();
    expect(await inRedis('my_circuit')).toBeUndefined();
  });

  it('serves from the warm mirror while Redis is down and merges back on its return', async () => {
    await start();
    // Opened by another instance: the push alone puts it in this instance's mirror.
    const other = new RedisStateStore({ redis: observer, keyPrefix: prefix });
    await other.override('pushed', { mode: 'forced_open', reason: 'incident' }, policy);
    await waitFor(
      async () => (await stateManager.memoryStore.getState('pushed'))?.override?.mode === 'forced_open',
    );
    await stateManager.record('counted', [{ kind: 'failure' }], policy);

    const reconciled: ReconciledEvent[] = [];
    stateManager.onReconciled((event) => reconciled.push(event));
    await server.kill();
    await waitFor(() => manager.fallbackMode, { timeoutMs: 2_000 });

    const started = performance.now();
    const counted = await stateManager.record('counted', [{ kind: 'failure' }, { kind: 'failure' }], policy);
    const outageWriteMs = performance.now() - started;
    expect(outageWriteMs).toBeLessThan(FAST.operationTimeoutMs + 20);
    expect(counted.state).toBe('open');
    expect((await stateManager.getState('pushed'))?.override?.mode).toBe('forced_open');
    expect(await stateManager.setState('written', createInitialState(Date.now()))).toBe(false);
    expect(stateManager.getFallbackStatus().fallbackStates).toEqual(['counted', 'written']);

    await server.restart(); // empty: no persistence
    const back = performance.now();
    await waitFor(async () => (await inRedis('counted'))?.state === 'open', { timeoutMs: 5_000 });
    const reconcileMs = performance.now() - back;
    await waitFor(async () => (await inRedis('pushed'))?.override?.mode === 'forced_open', {
      timeoutMs: 2_000,
    });
    expect(await inRedis('written')).toBeDefined();
    await waitFor(() => stateManager.getFallbackStatus().fallbackStatesCount === 0);
    expect(reconciled.some((event) => event.reseeded >= 3)).toBe(true);
    console.log(
      `[figures] state manager: outage write ${outageWriteMs.toFixed(2)} ms; reconciled into restarted-empty Redis ${Math.round(reconcileMs)} ms after restart`,
    );
    expect(reconcileMs).toBeLessThan(2_000);
  });

  it('never lets a stale fallback copy overwrite a newer Redis state', async () => {
    await start();
    await stateManager.record(
      'contested',
      [{ kind: 'failure' }, { kind: 'failure' }, { kind: 'failure' }],
      policy,
    );
    expect((await inRedis('contested'))?.state).toBe('open');
    await server.pause();
    await waitFor(() => manager.fallbackMode, { timeoutMs: 2_000 });
    // This instance keeps counting in memory: the circuit is now pending reconciliation.
    await stateManager.record('contested', [{ kind: 'failure' }], policy);
    expect(stateManager.getFallbackStatus().fallbackStates).toEqual(['contested']);
    await server.resume();
    // Meanwhile another instance closes it (newer transition), while this one counts in memory.
    const other = new RedisStateStore({ redis: observer, keyPrefix: prefix });
    const closed = await other.reset('contested', policy);
    await waitFor(() => manager.isConnected, { timeoutMs: 3_000 });
    await stateManager.reconcile();
    const final = await inRedis('contested');
    expect(final?.state).toBe('closed');
    expect(final?.version).toBeGreaterThanOrEqual(closed.version);
    expect((await stateManager.memoryStore.getState('contested'))?.state).toBe('closed');
  });

  it('re-seeds open circuits after FLUSHALL by itself', async () => {
    await start();
    await stateManager.record(
      'flushed',
      [{ kind: 'failure' }, { kind: 'failure' }, { kind: 'failure' }],
      policy,
    );
    await waitFor(async () => (await stateManager.memoryStore.getState('flushed'))?.state === 'open');
    await observer.flushall();
    const flushedAt = performance.now();
    await waitFor(async () => (await inRedis('flushed'))?.state === 'open', { timeoutMs: 3_000 });
    console.log(
      `[figures] state manager: open circuit re-seeded ${Math.round(performance.now() - flushedAt)} ms after FLUSHALL (check every 100 ms)`,
    );
  });
});

import {
  type CircuitStateData,
  type Clock,
  createCircuitBreaker,
  createInitialState,
  type TimerProvider,
} from '@xnai/cb-core';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { RedisStateStore } from '@xnai/cb-store-redis';
import { type FaultProxy, type RedisServer, startFaultProxy, startRedis, waitFor } from '@xnai/test-utils';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CircuitBreakerConfig, CircuitBreakerRegistry, type RegistryEvent } from './registry.js';

/**
 * The fleet keeps what an operator or the fleet decided, through partitions and data loss: each case
 * runs two or three instances (each its own connection manager, through its own fault proxy) on one
 * real Redis, and breaks one of them while another acts.
 */
const FAST = {
  operationTimeoutMs: 100,
  fallbackProbeIntervalMs: 50,
  recoveryThreshold: 2,
  reconnectMaxDelayMs: 100,
  connectionTimeoutMs: 1_000,
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const boom = (): Promise<never> => Promise.reject(new Error('dependency down'));
const ok = (): Promise<string> => Promise.resolve('ok');

interface Instance {
  readonly proxy: FaultProxy;
  readonly manager: RedisConnectionManager;
  readonly registry: CircuitBreakerRegistry;
  readonly events: Array<RegistryEvent & { seenAt: number }>;
  cut(mode?: 'reset' | 'blackhole'): Promise<void>;
  heal(): number;
  /** Resolves with the time of the first reconciliation that ended after `since`. */
  reconciledAfter(since: number): Promise<number>;
  call(name: string, fn: () => Promise<unknown>): Promise<string>;
}

let server: RedisServer;
let observer: Redis;
let instances: Instance[] = [];
let prefixes = 0;

beforeAll(async () => {
  server = await startRedis({ controllable: true });
  observer = new Redis(server.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  observer.on('error', () => undefined);
  await observer.connect();
});

afterEach(async () => {
  await Promise.all(
    instances.map(async (instance) => {
      await instance.registry.cleanup();
      await instance.proxy.close();
    }),
  );
  instances = [];
});

afterAll(async () => {
  observer?.disconnect();
  await server?.stop();
});

async function startInstance(
  prefix: string,
  circuits: Record<string, CircuitBreakerConfig>,
  options: { stateCheckIntervalMs?: number; clock?: Clock & TimerProvider } = {},
): Promise<Instance> {
  const proxy = await startFaultProxy({ target: server });
  const manager = new RedisConnectionManager({ url: proxy.url, ...FAST });
  await manager.connect();
  const registry = new CircuitBreakerRegistry({
    redis: manager,
    keyPrefix: prefix,
    stateCheckIntervalMs: options.stateCheckIntervalMs ?? 100,
    cleanupGraceMs: 0,
    ...(options.clock === undefined ? {} : { clock: options.clock, useClientTime: true }),
  });
  const events: Array<RegistryEvent & { seenAt: number }> = [];
  registry.onEvent((event) => events.push({ ...event, seenAt: Date.now() }));
  for (const [name, config] of Object.entries(circuits)) registry.registerCircuitBreaker(name, config);
  await Promise.all(Object.keys(circuits).map((name) => registry.get(name)?.refresh()));
  await registry.stateManager.redisStore?.whenSubscribed();
  const instance: Instance = {
    proxy,
    manager,
    registry,
    events,
    async cut(mode = 'reset') {
      proxy.setMode(mode);
      await waitFor(() => manager.fallbackMode, { timeoutMs: 3_000, message: 'fallback after the cut' });
    },
    heal() {
      proxy.setMode('pass');
      return Date.now();
    },
    async reconciledAfter(since) {
      let at = 0;
      await waitFor(
        () => {
          const event = events.find(
            (e) => e.type === 'reconciled' && e.seenAt >= since && e.trigger !== 'pending',
          );
          at = event?.seenAt ?? 0;
          return event !== undefined && registry.stateManager.getFallbackStatus().fallbackStatesCount === 0;
        },
        { timeoutMs: 5_000, message: 'a reconciliation after the heal' },
      );
      return at;
    },
    async call(name, fn) {
      try {
        await registry.callWithCircuitBreaker(name, fn);
        return 'ok';
      } catch (error) {
        return (error as { code?: string }).code ?? (error as Error).message;
      } finally {
        // Outcomes are sent after the call returns; the cases look at the store right after.
        await registry.get(name)?.flush();
      }
    },
  };
  instances.push(instance);
  return instance;
}

const newPrefix = () => `fleet${++prefixes}:`;
const createInitial = (at: number): CircuitStateData => createInitialState(at);
const inRedis = (prefix: string, name: string): Promise<CircuitStateData | undefined> =>
  new RedisStateStore({ redis: observer, keyPrefix: prefix }).getState(name);
const storedInRedis = (prefix: string, name: string) =>
  new RedisStateStore({ redis: observer, keyPrefix: prefix }).peek(name);

describe('decisions the fleet keeps through a partition', () => {
  it('keeps a circuit deleted while an instance was cut off (item 1)', async () => {
    const prefix = newPrefix();
    const circuits = { x: { failureThreshold: 1, openTimeoutMs: 60_000 } };
    const a = await startInstance(prefix, circuits);
    const b = await startInstance(prefix, circuits);
    expect(await b.call('x', boom)).toBe('dependency down');
    await waitFor(() => a.registry.get('x')?.status === 'open', { message: 'A sees the open circuit' });
    await a.cut('reset');
    expect(await b.registry.stateManager.deleteState('x')).toBe(true);
    await sleep(500);
    const healedAt = a.heal();
    await a.reconciledAfter(healedAt);
    expect(await inRedis(prefix, 'x')).toBeUndefined();
    expect((await storedInRedis(prefix, 'x')) as unknown).toMatchObject({ deleted: true });
    expect(await b.call('x', ok)).toBe('ok');
    await waitFor(() => a.registry.get('x')?.status === 'closed', {
      message: "A's view follows the deletion",
    });
    expect(await a.call('x', ok)).toBe('ok');
  });

  it('keeps a reset against the half-open an isolated instance derived from an older failure (item 2)', async () => {
    const prefix = newPrefix();
    const config = { failureThreshold: 1, successThreshold: 2, openTimeoutMs: 300, maxOpenTimeoutMs: 300 };
    const a = await startInstance(prefix, { x: config });
    const b = await startInstance(prefix, { x: config });
    await a.cut('reset');
    // t1: A's mirror opens on a failure.
    expect(await a.call('x', boom)).toBe('dependency down');
    expect(a.registry.get('x')?.status).toBe('open');
    await sleep(50);
    // t2: an operator resets it through B.
    await b.registry.reset('x');
    const resetAt = (await inRedis(prefix, 'x'))?.decidedAt ?? 0;
    await sleep(350);
    // t3: A's open period ends; A moves its copy to half-open with a probe.
    expect(await a.call('x', ok)).toBe('ok');
    expect(a.registry.get('x')?.status).toBe('half_open');
    const healedAt = a.heal();
    await a.reconciledAfter(healedAt);
    const stored = await inRedis(prefix, 'x');
    expect(stored).toMatchObject({ state: 'closed', decidedAt: resetAt, consecutiveOpens: 0 });
    for (let i = 0; i < 3; i++) expect(await b.call('x', ok)).toBe('ok');
    await waitFor(() => a.registry.get('x')?.status === 'closed', { message: "A's view takes the reset" });
  });

  it("keeps a circuit's own open period and leases through re-seeding and merges (item 3)", async () => {
    const prefix = newPrefix();
    const config = { failureThreshold: 1, openTimeoutMs: 1_800_000, maxOpenTimeoutMs: 1_800_000 };
    const a = await startInstance(prefix, { x: config });
    expect(await a.call('x', boom)).toBe('dependency down');
    const opened = (await inRedis(prefix, 'x')) as CircuitStateData;
    expect(opened.openUntil - opened.lastStateChange).toBe(1_800_000);
    // Re-seeding after FLUSHALL writes the mirror's copy with its 30-minute open period.
    await observer.flushall();
    await waitFor(async () => (await inRedis(prefix, 'x'))?.state === 'open', { message: 're-seeded' });
    expect((await inRedis(prefix, 'x'))?.openUntil).toBe(opened.openUntil);
    // A merge (a pending override made while cut off) keeps it too.
    await a.cut('reset');
    await a.registry.forceClosed('x', { durationMs: 60_000, reason: 'drill' });
    const healedAt = a.heal();
    await a.reconciledAfter(healedAt);
    const merged = (await inRedis(prefix, 'x')) as CircuitStateData;
    expect(merged.override).toMatchObject({ mode: 'forced_closed', reason: 'drill' });
    expect(merged.openUntil).toBe(opened.openUntil);
  });

  it('brings every served view up to date right after a reconnect, mirrored or not (item 4)', async () => {
    const prefix = newPrefix();
    const circuits = {
      forced: {},
      tripped: { failureThreshold: 1, openTimeoutMs: 60_000 },
      unseen: {},
    };
    const a = await startInstance(prefix, circuits);
    const b = await startInstance(prefix, circuits);
    await a.call('forced', ok);
    await a.cut('reset');
    await b.registry.forceOpen('forced', { reason: 'incident' });
    expect(await b.call('tripped', boom)).toBe('dependency down');
    await b.registry.forceOpen('unseen', { reason: 'never called here' });
    const healedAt = a.heal();
    const current: Record<string, number> = {};
    await waitFor(
      () => {
        for (const name of Object.keys(circuits)) {
          if (current[name] === undefined && a.registry.get(name)?.status !== 'closed') {
            current[name] = Date.now() - healedAt;
          }
        }
        return Object.keys(current).length === 3;
      },
      { timeoutMs: 3_000, intervalMs: 5, message: 'every view current' },
    );
    const reconciledMs = (await a.reconciledAfter(healedAt)) - healedAt;
    for (const name of Object.keys(circuits)) {
      expect(await a.call(name, ok)).toBe('CIRCUIT_OPEN');
      // Current no later than the reconciliation that follows the reconnect (a margin for the poll).
      expect(current[name]).toBeLessThanOrEqual(reconciledMs + 50);
    }
    console.log(
      `[figures] healed instance: views current ${JSON.stringify(current)} ms after the heal; reconciled ${reconciledMs} ms after`,
    );
  });
});

describe('stored data the fleet can trust', () => {
  it('bounds a year-long openUntil by maxOpenTimeoutMs after the open, in Lua and TypeScript alike (item 5)', async () => {
    const prefix = newPrefix();
    const config = { failureThreshold: 1, openTimeoutMs: 500, maxOpenTimeoutMs: 1_000 };
    const a = await startInstance(prefix, { x: config });
    expect(await a.call('x', boom)).toBe('dependency down');
    const opened = (await inRedis(prefix, 'x')) as CircuitStateData;
    // A bug, a skewed writer, a mistaken operator: a year ahead.
    // openUntil is the tenth field of the packed data (cb-store-redis codec.ts).
    const packed = String(await observer.hget(`${prefix}x`, 'data')).split('|');
    packed[9] = String(Date.now() + 365 * 86_400_000);
    await observer.hset(`${prefix}x`, 'data', packed.join('|'));
    await a.registry.get('x')?.refresh();
    const rejected = await a.registry.callWithCircuitBreaker('x', ok).catch((error: unknown) => error);
    expect((rejected as { retryAt?: number }).retryAt).toBeLessThanOrEqual(opened.lastStateChange + 1_000);
    await sleep(1_100 - (Date.now() - opened.lastStateChange));
    // The open period ended by the bound: the next call is a probe.
    expect(await a.call('x', ok)).toBe('ok');
    expect((await inRedis(prefix, 'x'))?.state).not.toBe('open');
  });

  it('takes a setState fleet-wide even when its version is below the stored one (item 7)', async () => {
    const prefix = newPrefix();
    const policy = { failureThreshold: 100 };
    const a = await startInstance(prefix, { x: policy });
    const b = await startInstance(prefix, { x: policy });
    for (let i = 0; i < 3; i++) await b.call('x', boom);
    const before = (await inRedis(prefix, 'x')) as CircuitStateData;
    const now = Date.now();
    await a.registry.stateManager.setState('x', {
      ...before,
      state: 'open',
      version: 1,
      consecutiveOpens: 1,
      lastStateChange: now,
      openUntil: now + 60_000,
    });
    await waitFor(() => b.registry.get('x')?.status === 'open', { message: "B's view takes the setState" });
    expect(await b.call('x', ok)).toBe('CIRCUIT_OPEN');
    expect((await inRedis(prefix, 'x'))?.version).toBeGreaterThan(before.version);
  });

  it('resolves override durations on Redis time, whatever the instance clocks say (item 9)', async () => {
    const prefix = newPrefix();
    const minutes = 10 * 60_000;
    for (const skew of [minutes, -minutes]) {
      const client = new Redis(server.url, {
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
      });
      await client.connect();
      // A fresh store: nothing learned yet about Redis time, the first operation is the override.
      const clock = { now: () => Date.now() + skew, setTimeout, clearTimeout };
      const store = new RedisStateStore({ redis: client, keyPrefix: prefix, clock });
      const breaker = createCircuitBreaker({ name: `skewed${skew}`, store, clock });
      const data = await breaker.forceOpen({ durationMs: 60_000 });
      const [seconds, micros] = (await observer.time()) as unknown as [string, string];
      const redisNow = Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000);
      expect((data.override?.expiresAt ?? 0) - redisNow).toBeGreaterThan(58_000);
      expect((data.override?.expiresAt ?? 0) - redisNow).toBeLessThanOrEqual(60_000);
      await breaker.close();
      await store.close();
      client.disconnect();
    }
  });

  it('counts failures as consecutive across the fleet: a success anywhere resets them (item 10)', async () => {
    const prefix = newPrefix();
    const config = { failureThreshold: 5, openTimeoutMs: 60_000 };
    const a = await startInstance(prefix, { x: config });
    const b = await startInstance(prefix, { x: config });
    for (let round = 0; round < 5; round++) {
      expect(await a.call('x', boom)).toBe('dependency down');
      // The failure count leaving zero is pushed, so B's successes are written (within the push delay).
      await waitFor(() => (b.registry.get('x')?.stateData.failureCount ?? 0) > 0, {
        message: 'B hears of it',
      });
      for (let i = 0; i < 20; i++) expect(await b.call('x', ok)).toBe('ok');
      await waitFor(() => a.registry.get('x')?.stateData.failureCount === 0, {
        message: 'A hears of the reset',
      });
    }
    expect(await inRedis(prefix, 'x')).toMatchObject({ state: 'closed', failureCount: 0 });
    expect(a.registry.get('x')?.status).toBe('closed');
  });
});

describe('operations during an outage and data loss', () => {
  it('merges a deletion made during an outage into Redis when it is back (item 13)', async () => {
    const prefix = newPrefix();
    const circuits = { x: { failureThreshold: 1, openTimeoutMs: 60_000 } };
    const a = await startInstance(prefix, circuits);
    const b = await startInstance(prefix, circuits);
    expect(await a.call('x', boom)).toBe('dependency down');
    await waitFor(() => b.registry.get('x')?.status === 'open');
    await a.cut('reset');
    expect(await a.registry.stateManager.deleteState('x')).toBe(true);
    expect(a.registry.stateManager.getFallbackStatus().fallbackStates).toEqual(['x']);
    const healedAt = a.heal();
    await a.reconciledAfter(healedAt);
    expect(await inRedis(prefix, 'x')).toBeUndefined();
    await waitFor(() => b.registry.get('x')?.status === 'closed', { message: "B's view takes the deletion" });
  });

  it('after FLUSHALL every instance re-seeds what only its own mirror holds (item 13)', async () => {
    const prefix = newPrefix();
    const config = { failureThreshold: 1, openTimeoutMs: 60_000 };
    // A checks the marker first and wins it; B must notice the loss all the same.
    const a = await startInstance(prefix, { mine: config }, { stateCheckIntervalMs: 50 });
    const b = await startInstance(prefix, { theirs: config }, { stateCheckIntervalMs: 400 });
    await a.cut('reset');
    // Opened while A is cut off: only B's mirror has it.
    expect(await b.call('theirs', boom)).toBe('dependency down');
    const healedAt = a.heal();
    await a.reconciledAfter(healedAt);
    expect(a.registry.stateManager.memoryStore.peek('theirs')).toBeUndefined();
    await observer.flushall();
    await waitFor(async () => (await inRedis(prefix, 'theirs'))?.state === 'open', {
      timeoutMs: 3_000,
      message: 'B re-seeds the circuit only its mirror held, although A won the marker',
    });
  });

  it('after Redis lost its data, a change in the same millisecond or after the clock stepped back still reaches every mirror and view (item 13)', async () => {
    let now = Date.UTC(2026, 11, 1, 12);
    const clock: Clock & TimerProvider = {
      now: () => now,
      setTimeout: (callback, delayMs) => {
        const timer = setTimeout(callback, delayMs);
        timer.unref();
        return timer;
      },
      clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    };
    const prefix = newPrefix();
    const circuits = { c: { failureThreshold: 1, openTimeoutMs: 60_000 } };
    const a = await startInstance(prefix, circuits, { clock });
    const b = await startInstance(prefix, circuits, { clock });
    const agree = (status: string) =>
      waitFor(
        async () =>
          [a, b].every(
            (instance) =>
              instance.registry.get('c')?.status === status &&
              (instance.registry.stateManager.memoryStore.peek('c') as CircuitStateData | undefined)
                ?.state === status,
          ) && (await inRedis(prefix, 'c'))?.state === status,
        { timeoutMs: 5_000, message: `every view, mirror and Redis at ${status}` },
      );
    // A closed circuit written at this millisecond, then Redis restarted empty.
    await a.registry.stateManager.setState('c', { ...createInitial(now), failureCount: 0 });
    await agree('closed');
    const restarted = Date.now();
    await server.kill();
    await waitFor(() => a.manager.fallbackMode && b.manager.fallbackMode, { timeoutMs: 3_000 });
    await server.restart();
    await Promise.all([a.reconciledAfter(restarted), b.reconciledAfter(restarted)]);
    // The same millisecond: Redis starts its versions again where the old copy was.
    await a.registry.stateManager.setState('c', {
      ...createInitial(now),
      state: 'open',
      openUntil: now + 60_000,
      consecutiveOpens: 1,
    });
    await agree('open');
    // Lost again, and the clock steps back two seconds: Redis's next versions are below every copy's.
    await a.registry.reset('c');
    await agree('closed');
    const flushed = Date.now();
    await observer.flushall();
    await Promise.all([a.reconciledAfter(flushed), b.reconciledAfter(flushed)]);
    now -= 2_000;
    expect(await b.call('c', boom)).toBe('dependency down');
    await agree('open');
  });

  it('a change Redis took after it lost its data, before anyone noticed, is rewritten above every version the instances saw (item 13)', async () => {
    let now = Date.UTC(2026, 11, 1, 12);
    const clock: Clock & TimerProvider = {
      now: () => now,
      setTimeout: (callback, delayMs) => {
        const timer = setTimeout(callback, delayMs);
        timer.unref();
        return timer;
      },
      clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    };
    const prefix = newPrefix();
    const circuits = { c: { failureThreshold: 1, openTimeoutMs: 60_000 } };
    // No periodic check: the loss goes unnoticed until a reconciliation runs.
    const a = await startInstance(prefix, circuits, { clock, stateCheckIntervalMs: 60_000 });
    const b = await startInstance(prefix, circuits, { clock, stateCheckIntervalMs: 60_000 });
    await a.registry.stateManager.setState('c', createInitial(now));
    await waitFor(() => b.registry.get('c')?.stateData.version === a.registry.get('c')?.stateData.version, {
      timeoutMs: 2_000,
    });
    await observer.flushall();
    now -= 2_000;
    // Redis takes the failure at a version below every copy's: the instances' views ignore it.
    expect(await a.call('c', boom)).toBe('dependency down');
    const stored = await inRedis(prefix, 'c');
    expect(stored?.state).toBe('open');
    expect(stored?.version).toBeLessThan(b.registry.get('c')?.stateData.version ?? 0);
    await b.registry.stateManager.reconcile();
    await waitFor(
      async () =>
        [a, b].every(
          (instance) =>
            instance.registry.get('c')?.status === 'open' &&
            (instance.registry.stateManager.memoryStore.peek('c') as CircuitStateData | undefined)?.state ===
              'open',
        ) && (await inRedis(prefix, 'c'))?.state === 'open',
      { timeoutMs: 5_000, message: 'every view and mirror at open' },
    );
  });

  it('backs off reconciliation while Redis answers every write with OOM, and merges once it can (item 13)', async () => {
    const prefix = newPrefix();
    const a = await startInstance(prefix, { x: { failureThreshold: 100 } });
    await observer.config('SET', 'maxmemory', '1');
    try {
      const started = Date.now();
      expect(await a.call('x', boom)).toBe('dependency down');
      expect(a.registry.stateManager.getFallbackStatus().fallbackStates).toEqual(['x']);
      await sleep(3_000);
      const attempts = a.events.filter((e) => e.type === 'reconciled' && e.seenAt >= started && e.failed > 0);
      // Retried after 100, 200, 400, 800, 1,600 ms...: a handful in 3 s, not one every 100 ms (and none
      // while the connection manager counts a Redis refusing writes as unusable).
      expect(attempts.length).toBeLessThanOrEqual(6);
    } finally {
      await observer.config('SET', 'maxmemory', '0');
    }
    await waitFor(async () => (await inRedis(prefix, 'x'))?.failureCount === 1, {
      timeoutMs: 8_000,
      message: 'the pending failure merged once Redis takes writes',
    });
  });
});

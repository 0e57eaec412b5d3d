import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  CircuitOpenError,
  type CircuitStateChange,
  ClosedError,
  createCircuitBreaker,
  createInitialState,
  resolvePolicy,
} from '@xnai/cb-core';
import { describeStoreContract } from '@xnai/test-utils';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStateStore, MemoryStateStore } from './memory-state-store.js';

const run = promisify(execFile);
const packageDirectory = resolve(import.meta.dirname, '..');

describeStoreContract('MemoryStateStore', {
  create: () => new MemoryStateStore(),
  createWithTtl: (ttlMs) => new MemoryStateStore({ ttlMs }),
});

describe('MemoryStateStore', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.UTC(2026, 10, 27) });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('expires a state one hour after its last write by default (the seed TTL)', async () => {
    const store = createMemoryStateStore();
    expect(store.ttlMs).toBe(3_600_000);
    await store.record('search', [{ kind: 'failure' }], resolvePolicy());
    vi.advanceTimersByTime(3_599_999);
    expect(await store.getState('search')).toBeDefined();
    await store.record('search', [{ kind: 'failure' }], resolvePolicy());
    vi.advanceTimersByTime(3_599_999);
    expect((await store.getState('search'))?.failureCount).toBe(2);
    vi.advanceTimersByTime(1);
    expect(await store.getState('search')).toBeUndefined();
    expect((await store.getAllStates()).size).toBe(0);
    await store.close();
  });

  it('removes expired states on cleanupExpiredStates() and reports the rest (the seed fallback status)', async () => {
    const store = new MemoryStateStore({ ttlMs: 1_000 });
    await store.setState('old', createInitialState(Date.now()));
    vi.advanceTimersByTime(600);
    await store.setState('new', createInitialState(Date.now()));
    vi.advanceTimersByTime(400);
    expect(store.getStatus()).toEqual({ statesCount: 1, states: ['new'] });
    expect(store.cleanupExpiredStates()).toBe(1);
    expect(store.cleanupExpiredStates()).toBe(0);
    await store.close();
  });

  it('runs cleanup on an unref’d interval when asked, and close() stops it', async () => {
    const store = new MemoryStateStore({ ttlMs: 1_000, cleanupIntervalMs: 500 });
    expect(vi.getTimerCount()).toBe(1);
    await store.setState('a', createInitialState(Date.now()));
    const spy = vi.spyOn(store, 'cleanupExpiredStates');
    vi.advanceTimersByTime(1_500);
    expect(spy).toHaveBeenCalledTimes(3);
    expect(store.getStatus().statesCount).toBe(0);
    await store.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('refuses operations after close', async () => {
    const store = new MemoryStateStore();
    await store.close();
    await expect(store.getState('a')).rejects.toBeInstanceOf(ClosedError);
    await expect(store.record('a', [{ kind: 'failure' }], resolvePolicy())).rejects.toBeInstanceOf(
      ClosedError,
    );
  });

  it.each([
    [{ ttlMs: 0 }, 'ttlMs must be a positive integer, got 0'],
    [{ cleanupIntervalMs: -1 }, 'cleanupIntervalMs must be a positive integer, got -1'],
    [{ ttl: 5 }, 'options has an unknown option "ttl"'],
  ])('rejects options %j', (options, message) => {
    expect(() => new MemoryStateStore(options as never)).toThrow(message);
  });

  it('announces a status change made by setState and deletes', async () => {
    const store = new MemoryStateStore();
    const changes: CircuitStateChange[] = [];
    store.subscribe((change) => changes.push(change));
    await store.setState('a', {
      ...createInitialState(Date.now()),
      state: 'open',
      openUntil: Date.now() + 10,
    });
    await store.deleteState('a');
    expect(changes.map((c) => [c.transition?.reason ?? null, c.state?.state ?? null])).toEqual([
      ['set', 'open'],
      [null, null],
    ]);
    await store.close();
  });
});

describe('a local breaker on the memory store', () => {
  it('opens, rejects, probes and closes end to end', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 10, 27) });
    const store = new MemoryStateStore();
    const breaker = createCircuitBreaker({
      name: 'inventory',
      store,
      failureThreshold: 2,
      openTimeoutMs: 1_000,
    });
    for (let i = 0; i < 2; i++)
      await expect(breaker.execute(() => Promise.reject(new Error('down')))).rejects.toThrow();
    await expect(breaker.execute(() => 'x')).rejects.toBeInstanceOf(CircuitOpenError);
    expect((await store.getState('inventory'))?.state).toBe('open');
    vi.advanceTimersByTime(1_000);
    await expect(breaker.execute(() => 'probe 1')).resolves.toBe('probe 1');
    await expect(breaker.execute(() => 'probe 2')).resolves.toBe('probe 2');
    await vi.advanceTimersByTimeAsync(0);
    expect((await store.getState('inventory'))?.state).toBe('closed');
    expect(breaker.status).toBe('closed');
    await breaker.close();
    await store.close();
    vi.useRealTimers();
  });
});

describe('breakers watching the memory store', () => {
  it('take pushed changes through watch (no subscription of their own) and stop when closed', async () => {
    const store = new MemoryStateStore();
    const subscribe = vi.spyOn(store, 'subscribe');
    const watch = vi.spyOn(store, 'watch');
    const unwatch = vi.spyOn(store, 'unwatch');
    const first = createCircuitBreaker({ name: 'payments', store });
    const second = createCircuitBreaker({ name: 'payments', store });
    await first.execute(() => 'ok');
    await second.execute(() => 'ok');
    expect(subscribe).not.toHaveBeenCalled();
    expect(watch).toHaveBeenCalledTimes(2);
    const changes: string[] = [];
    second.onStateChange((event) => changes.push(`${event.from}->${event.to}`));
    await store.override('payments', { mode: 'forced_open' }, resolvePolicy());
    expect([first.status, second.status]).toEqual(['forced_open', 'forced_open']);
    expect(changes).toEqual(['closed->forced_open']);
    await first.close();
    expect(unwatch).toHaveBeenCalledTimes(1);
    expect(unwatch.mock.calls[0]?.[1]).toBe(watch.mock.calls[0]?.[1]);
    await store.override('payments', null, resolvePolicy());
    // The closed breaker keeps what it last saw; the open one follows the store.
    expect([first.status, second.status]).toEqual(['forced_open', 'closed']);
    await second.close();
    await first.close();
    expect(unwatch).toHaveBeenCalledTimes(2);
    // A breaker closed before it ever loaded watched nothing and unwatches nothing.
    await createCircuitBreaker({ name: 'never', store }).close();
    expect(unwatch).toHaveBeenCalledTimes(2);
    await store.close();
  });
});

describe('the onStateChange option on the memory store', () => {
  it('hears nothing once close() started, while the breaker’s own listeners hear the rest', async () => {
    const store = new MemoryStateStore();
    const relayed: string[] = [];
    const own: string[] = [];
    const breaker = createCircuitBreaker({
      name: 'payments',
      store,
      onStateChange: (event) => relayed.push(event.to),
    });
    breaker.onStateChange((event) => own.push(event.to));
    await breaker.execute(() => 'ok');
    await store.override('payments', { mode: 'forced_open' }, resolvePolicy());
    const closing = breaker.close();
    // Pushed while the breaker flushes on its way out.
    await store.override('payments', null, resolvePolicy());
    await closing;
    expect(relayed).toEqual(['forced_open']);
    expect(own).toEqual(['forced_open', 'closed']);
    // A refresh after close reads, and watches nothing that nobody would unwatch.
    const watch = vi.spyOn(store, 'watch');
    const late = createCircuitBreaker({ name: 'late', store });
    await late.close();
    await late.refresh().catch(() => undefined);
    expect(watch).not.toHaveBeenCalled();
    await store.close();
  });
});

describe('MemoryStateStore memory and bounds', () => {
  it('keeps nothing per name once states expired and were read (no lock or entry left behind)', async () => {
    // A child process with --expose-gc measures the heap; 100,000 names were 22 MB retained before.
    const script = `
      import { MemoryStateStore } from '@xnai/cb-store-memory';
      import { resolvePolicy } from '@xnai/cb-core';
      let now = 1_800_000_000_000;
      const clock = { now: () => now, setTimeout, clearTimeout };
      const store = new MemoryStateStore({ ttlMs: 1_000, clock });
      const policy = resolvePolicy();
      gc(); gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 100_000; i++) await store.record('circuit-' + i, [{ kind: 'failure' }], policy);
      now += 2_000;
      for (let i = 0; i < 100_000; i++) await store.getState('circuit-' + i);
      gc(); gc();
      console.log(JSON.stringify({ retained: process.memoryUsage().heapUsed - before, held: store.getStatus().statesCount }));
    `;
    const { stdout } = await run(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
      cwd: packageDirectory,
    });
    const { retained, held } = JSON.parse(stdout) as { retained: number; held: number };
    expect(held).toBe(0);
    expect(retained).toBeLessThan(2_000_000);
  }, 60_000);

  it('lets no instance act on an open period beyond maxOpenTimeoutMs, however far ahead it was written', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 11, 1) });
    try {
      const store = new MemoryStateStore();
      const policy = { failureThreshold: 1, openTimeoutMs: 1_000, maxOpenTimeoutMs: 2_000 };
      const now = Date.now();
      await store.setState('far', {
        ...createInitialState(now),
        state: 'open',
        consecutiveOpens: 1,
        openUntil: now + 365 * 86_400_000,
      });
      const breaker = createCircuitBreaker({ name: 'far', store, ...policy });
      const rejected = await breaker.execute(() => 'x').catch((error: unknown) => error);
      expect((rejected as { retryAt: number }).retryAt).toBe(now + 2_000);
      vi.advanceTimersByTime(2_000);
      expect(await breaker.execute(() => 'probe')).toBe('probe');
      expect(breaker.status).toBe('half_open');
      await breaker.close();
    } finally {
      vi.useRealTimers();
    }
  });
});

import { type CircuitStateChange, resolvePolicy } from '@xnai/cb-core';
import { commandCounts, commandsSent, percentile, type RedisServer, startRedis } from '@xnai/test-utils';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type Worker } from './__fixtures__/workers.js';
import { RedisStateStore } from './redis-state-store.js';

const KEY_PREFIX = 'fleet:';

describe('a breaker shared by several processes through Redis', () => {
  let server: RedisServer;
  let client: Redis;
  let store: RedisStateStore;
  let workers: Worker[] = [];

  const spawn = async (count: number, clockOffsets: number[] = []): Promise<Worker[]> => {
    const started = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        startWorker({ url: server.url, keyPrefix: KEY_PREFIX, clockOffsetMs: clockOffsets[i] ?? 0 }),
      ),
    );
    workers.push(...started);
    return started;
  };

  beforeAll(async () => {
    server = await startRedis();
    client = new Redis(server.url, { lazyConnect: true, enableOfflineQueue: false });
    await client.connect();
    store = new RedisStateStore({ redis: client, keyPrefix: KEY_PREFIX });
  });
  afterEach(async () => {
    await Promise.all(workers.map((worker) => worker.close()));
    workers = [];
  });
  afterAll(async () => {
    await store?.close();
    client?.disconnect();
    await server?.stop();
  });

  it('loses no update: 4 processes x 500 concurrent failures count exactly 2,000', async () => {
    const fleet = await spawn(4);
    const options = { failureThreshold: 10_000 };
    await Promise.all(fleet.map((worker) => worker.call('prepare', { name: 'count-all', options })));
    const results = await Promise.all(
      fleet.map((worker) =>
        worker.call<{ failed: number }>('fail', { name: 'count-all', options, count: 500 }),
      ),
    );
    expect(results.map((r) => r.failed)).toEqual([500, 500, 500, 500]);
    const data = await store.getState('count-all');
    expect(data).toMatchObject({ state: 'closed', failureCount: 2_000 });
    console.log(`[figures] 4 processes x 500 concurrent failures: stored failureCount ${data?.failureCount}`);
  });

  it('announces the trip to open exactly once across the fleet', async () => {
    const changes: CircuitStateChange[] = [];
    const subscription = store.subscribe((change) => changes.push(change), { name: 'trip-once' });
    await store.whenSubscribed();
    const fleet = await spawn(4);
    const options = { failureThreshold: 5 };
    await Promise.all(fleet.map((worker) => worker.call('prepare', { name: 'trip-once', options })));
    await Promise.all(fleet.map((worker) => worker.call('fail', { name: 'trip-once', options, count: 500 })));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const opens = changes.filter((change) => change.transition?.to === 'open');
    expect(opens).toHaveLength(1);
    expect((await store.getState('trip-once'))?.state).toBe('open');
    console.log(
      `[figures] 4 processes x 500 concurrent failures, threshold 5: ${opens.length} open announcement(s)`,
    );
    subscription.dispose();
  });

  it('never runs more half-open probes at once than halfOpenMaxCalls, over 50 rounds in 3 processes', async () => {
    const fleet = await spawn(3);
    const options = { failureThreshold: 1, openTimeoutMs: 1, backoffMultiplier: 1, halfOpenMaxCalls: 2 };
    await Promise.all(fleet.map((worker) => worker.call('prepare', { name: 'probes', options })));
    await fleet[0]?.call('trip', { name: 'probes', options });
    const spans: Array<{ start: number; end: number; pid?: number; status?: string; round?: number }> = [];
    let admittedRounds = 0;
    for (let round = 0; round < 50; round++) {
      const results = await Promise.all(
        fleet.map((worker) =>
          worker.call<{ spans: Array<{ start: number; end: number }> }>('probe', {
            name: 'probes',
            options,
            concurrency: 4,
            holdMs: 15,
            outcome: 'failure',
          }),
        ),
      );
      const roundSpans = results.flatMap((result) => result.spans);
      if (roundSpans.length > 0) admittedRounds++;
      spans.push(...roundSpans);
    }
    // The most probes running at the same moment, anywhere in the fleet.
    let most = 0;
    for (const span of spans) {
      const overlapping = spans.filter((other) => other.start < span.end && span.start < other.end).length;
      most = Math.max(most, overlapping);
    }
    if (most > 2) {
      const busiest = spans.find(
        (span) => spans.filter((other) => other.start < span.end && span.start < other.end).length === most,
      );
      const overlapping = spans.filter(
        (other) => busiest !== undefined && other.start < busiest.end && busiest.start < other.end,
      );
      console.log(`[figures] over-probed: ${JSON.stringify(overlapping)}`);
    }
    expect(most).toBeLessThanOrEqual(2);
    expect(admittedRounds).toBeGreaterThan(40);
    const data = await store.getState('probes');
    console.log(
      `[figures] 3 processes, 50 rounds x 12 concurrent calls: ${spans.length} probes admitted, at most ${most} at once, ${data?.halfOpenRound} half-open rounds`,
    );
  });

  it('ends the open period at the same moment on instances whose clocks are 5 s behind and ahead', async () => {
    const fleet = await spawn(3, [-5_000, 5_000, 0]);
    const options = { failureThreshold: 1, openTimeoutMs: 1_500, halfOpenMaxCalls: 2, successThreshold: 1 };
    const lateness: number[] = [];
    // Each skewed instance polls a circuit of its own, so no other instance's probe can help it along.
    for (const [index, name] of [
      [0, 'skew-behind'],
      [1, 'skew-ahead'],
    ] as const) {
      const poller = fleet[index];
      await Promise.all([
        poller?.call('prepare', { name, options }),
        fleet[2]?.call('prepare', { name, options }),
      ]);
      await fleet[2]?.call('trip', { name, options });
      const opened = await store.getState(name);
      const openUntil = opened?.openUntil ?? 0;
      // The open period itself is measured on Redis time, whoever tripped it.
      expect(openUntil - (opened?.lastStateChange ?? 0)).toBe(1_500);
      const { admittedAt } = (await poller?.call<{ admittedAt: number | null }>('pollUntilAdmitted', {
        name,
        options,
        intervalMs: 20,
        timeoutMs: 10_000,
      })) ?? { admittedAt: null };
      lateness.push((admittedAt ?? Number.NaN) - openUntil);
    }
    for (const late of lateness) {
      // Admitted no earlier than the open period ends and within a poll interval plus a round trip after.
      expect(late).toBeGreaterThanOrEqual(-5);
      expect(late).toBeLessThan(250);
    }
    console.log(
      `[figures] clock -5 s admitted ${lateness[0]} ms after openUntil, clock +5 s admitted ${lateness[1]} ms after`,
    );
  });

  it('propagates an open circuit from one process to another (200 trials)', async () => {
    const [tripper, watcher] = await spawn(2);
    const options = { failureThreshold: 1, openTimeoutMs: 60_000 };
    const latencies: number[] = [];
    for (let trial = 0; trial < 200; trial++) {
      const name = `propagate-${trial}`;
      await Promise.all([
        tripper?.call('prepare', { name, options }),
        watcher?.call('prepare', { name, options }),
      ]);
      const seen = watcher?.call<{ seenAt: number; already: boolean }>('watch', {
        name,
        options,
        status: 'open',
      });
      const { trippedAt } = (await tripper?.call<{ trippedAt: number }>('trip', { name, options })) ?? {
        trippedAt: 0,
      };
      const { seenAt, already } = (await seen) ?? { seenAt: Number.NaN, already: true };
      expect(already).toBe(false);
      latencies.push(seenAt - trippedAt);
    }
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    console.log(
      `[figures] propagation over ${latencies.length} trials: p50 ${p50} ms, p99 ${p99} ms, max ${Math.max(...latencies)} ms`,
    );
    expect(latencies.every((latency) => latency >= 0)).toBe(true);
  });
});

describe('half-open probe leases against Redis', () => {
  let server: RedisServer;
  let client: Redis;

  beforeAll(async () => {
    server = await startRedis();
    client = new Redis(server.url, { lazyConnect: true, enableOfflineQueue: false });
    await client.connect();
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it('releases the lease of a probe that hangs (call timeout) and of one that is aborted', async () => {
    const { createCircuitBreaker, CallTimeoutError } = await import('@xnai/cb-core');
    const store = new RedisStateStore({ redis: client, keyPrefix: 'lease:' });
    const breaker = createCircuitBreaker({
      name: 'leases',
      store,
      failureThreshold: 1,
      openTimeoutMs: 50,
      backoffMultiplier: 1,
      callTimeoutMs: 200,
    });
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => undefined);
    await breaker.flush();
    await new Promise((resolve) => setTimeout(resolve, 60));

    // A probe that never settles: the call timeout fails it and its lease goes with the outcome.
    const hung = breaker.execute(() => new Promise(() => undefined));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await store.getState('leases'))?.probes).toHaveLength(1);
    await expect(hung).rejects.toBeInstanceOf(CallTimeoutError);
    await breaker.flush();
    expect((await store.getState('leases'))?.probes).toEqual([]);

    // A probe its caller abandons: the lease is released and the outcome counts for nothing.
    await new Promise((resolve) => setTimeout(resolve, 60));
    const controller = new AbortController();
    const aborted = breaker.execute(() => new Promise(() => undefined), { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const during = await store.getState('leases');
    expect(during).toMatchObject({ state: 'half_open' });
    expect(during?.probes).toHaveLength(1);
    controller.abort(new Error('caller gave up'));
    await expect(aborted).rejects.toThrow('caller gave up');
    await breaker.flush();
    expect(await store.getState('leases')).toMatchObject({ state: 'half_open', probes: [], successCount: 0 });
    await expect(breaker.execute(() => 'next probe')).resolves.toBe('next probe');
    await breaker.close();
    await store.close();
  });
});

describe('the hot path against Redis', () => {
  let server: RedisServer;
  let client: Redis;
  let admin: Redis;

  beforeAll(async () => {
    server = await startRedis();
    client = new Redis(server.url, { lazyConnect: true, enableOfflineQueue: false });
    admin = new Redis(server.url, { lazyConnect: true });
    await Promise.all([client.connect(), admin.connect()]);
  });
  afterAll(async () => {
    client?.disconnect();
    admin?.disconnect();
    await server?.stop();
  });

  /**
   * Commands the store sent since RESETSTAT about circuits: scripts once each, pipelined reads (not
   * the subscriber check's PING, one per store every 5 s).
   */
  async function scriptCalls(): Promise<number> {
    const counts = await commandCounts(admin);
    return commandsSent(counts) - (counts.ping ?? 0);
  }

  it('makes no Redis command per successful call on a closed circuit (consecutive-failure policy)', async () => {
    const { createCircuitBreaker } = await import('@xnai/cb-core');
    const store = new RedisStateStore({ redis: client, keyPrefix: 'hot:' });
    const breaker = createCircuitBreaker({ name: 'quiet', store });
    await breaker.execute(() => 'warm');
    await admin.config('RESETSTAT');
    for (let i = 0; i < 10_000; i++) await breaker.execute(() => i);
    const calls = await scriptCalls();
    expect(calls).toBe(0);
    console.log(`[figures] 10,000 successful calls on a closed circuit: ${calls} Redis script calls`);
    await breaker.close();
    await store.close();
  });

  it('sends sliding-window counts at the flush interval, not at the call rate', async () => {
    const { createCircuitBreaker } = await import('@xnai/cb-core');
    const store = new RedisStateStore({ redis: client, keyPrefix: 'hot:' });
    const breaker = createCircuitBreaker({
      name: 'windowed',
      store,
      slidingWindow: { type: 'time', durationMs: 10_000 },
      recordIntervalMs: 200,
      refreshIntervalMs: 60_000,
    });
    await breaker.execute(() => 'warm');
    await breaker.flush();
    await admin.config('RESETSTAT');
    const started = Date.now();
    let made = 0;
    while (Date.now() - started < 1_000) {
      for (let i = 0; i < 200; i++) await breaker.execute(() => i);
      made += 200;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const elapsed = Date.now() - started;
    await breaker.flush();
    const calls = await scriptCalls();
    const flushes = Math.ceil(elapsed / 200) + 1;
    expect(calls).toBeLessThanOrEqual(flushes);
    expect(calls).toBeGreaterThanOrEqual(1);
    const window = (await store.getState('windowed'))?.window;
    const recorded = window?.kind === 'time' ? window.buckets.reduce((sum, b) => sum + b.calls, 0) : 0;
    expect(recorded).toBe(made + 1);
    console.log(
      `[figures] ${made} calls in ${elapsed} ms with a 200 ms flush interval: ${calls} Redis script calls`,
    );
    await breaker.close();
    await store.close();
  });
});

it('uses the default policy shape', () => {
  expect(resolvePolicy().failureThreshold).toBe(5);
});

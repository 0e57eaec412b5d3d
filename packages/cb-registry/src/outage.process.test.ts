// The issue's scenarios with real Redis processes and real service processes (registry-worker.mjs).
import { RedisStateStore } from '@xnai/cb-store-redis';
import { type FaultProxy, type RedisServer, startFaultProxy, startRedis, waitFor } from '@xnai/test-utils';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nextArmedMessage, startWorker, type Worker } from './__fixtures__/workers.js';

const OPERATION_TIMEOUT_MS = 250;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface DriveResult {
  calls: number;
  ok: number;
  rejected: number;
  failed: number;
  errors: string[];
  maxMs: number;
  p99Ms: number;
  durationMs: number;
  perCircuit: Record<string, { ok: number; rejected: number; failed: number; error: number }>;
}
interface WorkerStatus {
  connected: boolean;
  fallbackMode: boolean;
  fallbackStatus: { fallbackStatesCount: number; fallbackStates: string[] };
  circuits: Record<string, { status: string; state: string; failureCount: number }>;
}

describe('the registry across Redis outages, with several service processes', () => {
  let server: RedisServer;
  let workers: Worker[] = [];
  let observer: Redis | undefined;
  let proxy: FaultProxy | undefined;
  let counter = 0;

  beforeAll(async () => {
    server = await startRedis({ controllable: true });
  });
  afterEach(async () => {
    await Promise.all(workers.map((worker) => worker.close()));
    workers = [];
    observer?.disconnect();
    observer = undefined;
    await proxy?.close();
    proxy = undefined;
  });
  afterAll(async () => {
    await server?.stop();
  });

  const spawn = async (count: number, config: Record<string, unknown> = {}): Promise<Worker[]> => {
    const started = await Promise.all(
      Array.from({ length: count }, () => startWorker({ url: server.url, ...config })),
    );
    workers.push(...started);
    return started;
  };
  const connectObserver = async (): Promise<Redis> => {
    if (observer?.status === 'ready') return observer;
    observer?.disconnect();
    const client = new Redis(server.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    client.on('error', () => undefined);
    observer = client;
    await client.connect();
    return client;
  };
  const readState = async (keyPrefix: string, name: string) => {
    const client = await connectObserver();
    return new RedisStateStore({ redis: client, keyPrefix }).getState(name);
  };

  it('Redis killed for 5 s under 2,000 calls/s from 3 processes: no breaker-layer failure, open stays open, reconciled within 2 s', async () => {
    const keyPrefix = `kill${++counter}:`;
    const healthy = ['healthy-0', 'healthy-1', 'healthy-2', 'healthy-3'];
    const circuits = [
      ...healthy.map((name) => ({ name, options: { failureThreshold: 5 } })),
      { name: 'always-open', options: { failureThreshold: 2, openTimeoutMs: 60_000 } },
      { name: 'trip-during', options: { failureThreshold: 5, openTimeoutMs: 60_000 } },
      { name: 'counting', options: { failureThreshold: 1_000_000 } },
    ];
    const names = circuits.map((circuit) => circuit.name);
    const fleet = await spawn(3);
    await Promise.all(
      fleet.map((worker) => worker.call('setup', { registryOptions: { keyPrefix }, circuits })),
    );
    const [first] = fleet as [Worker, ...Worker[]];
    await first.call('failing', { names: ['always-open'], on: true });
    await first.call('call', { name: 'always-open' });
    await first.call('call', { name: 'always-open' });
    await waitFor(async () => {
      const statuses = await Promise.all(fleet.map((worker) => worker.call<WorkerStatus>('status')));
      return statuses.every((status) => status.circuits['always-open']?.status === 'open');
    });
    await Promise.all(fleet.map((worker) => worker.call('failing', { names: ['counting'], on: true })));

    await Promise.all(fleet.map((worker) => worker.call('drive', { names, rate: 667 })));
    await sleep(1_000);
    await server.kill();
    const killedAt = Date.now();
    await Promise.all(fleet.map((worker) => worker.call('failing', { names: ['trip-during'], on: true })));
    await sleep(5_000 - (Date.now() - killedAt));
    const touched = await Promise.all(fleet.map((worker) => worker.call<WorkerStatus>('status')));
    for (const status of touched) {
      expect(status.fallbackMode).toBe(true);
      expect(status.circuits['always-open']?.status).toBe('open');
      expect(status.circuits['trip-during']?.status).toBe('open');
    }
    const outageMs = Date.now() - killedAt;
    await server.restart(); // empty: the harness runs Redis without persistence
    const restartedAt = Date.now();

    // Every circuit touched during the outage must be in Redis, merged, within 2 s.
    const touchedNames = new Set(touched.flatMap((status) => status.fallbackStatus.fallbackStates));
    expect([...touchedNames].sort()).toEqual(expect.arrayContaining(['counting', 'trip-during']));
    let reconciledMs = Number.NaN;
    await waitFor(
      async () => {
        const [tripped, open, counting] = await Promise.all([
          readState(keyPrefix, 'trip-during'),
          readState(keyPrefix, 'always-open'),
          readState(keyPrefix, 'counting'),
        ]);
        const statuses = await Promise.all(fleet.map((worker) => worker.call<WorkerStatus>('status')));
        const done =
          tripped?.state === 'open' &&
          open?.state === 'open' &&
          (counting?.failureCount ?? 0) > 0 &&
          statuses.every((status) => status.fallbackStatus.fallbackStatesCount === 0);
        if (done) reconciledMs = Date.now() - restartedAt;
        return done;
      },
      { timeoutMs: 5_000, intervalMs: 20 },
    );
    await sleep(1_000);
    const results = await Promise.all(fleet.map((worker) => worker.call<DriveResult>('stopDriving')));
    const events = await Promise.all(
      fleet.map((worker) =>
        worker.call<{
          events: Array<{
            type: string;
            seenAt: number;
            merged?: number;
            conflicting?: number;
            reseeded?: number;
          }>;
        }>('events'),
      ),
    );
    const reconciledEvents = events.map(({ events: list }) =>
      list.filter(
        (event) => event.type === 'reconciled' && event.seenAt >= restartedAt && (event.merged ?? 0) > 0,
      ),
    );

    const total = results.reduce((sum, result) => sum + result.calls, 0);
    const seconds = Math.max(...results.map((result) => result.durationMs)) / 1_000;
    const maxMs = Math.max(...results.map((result) => result.maxMs));
    const p99Ms = Math.max(...results.map((result) => result.p99Ms));
    const breakerErrors = results.flatMap((result) => result.errors);
    const openAdmitted = results.reduce(
      (sum, result) => sum + (result.perCircuit['always-open']?.ok ?? 0),
      0,
    );
    const healthyNotOk = results.reduce(
      (sum, result) =>
        sum +
        healthy.reduce((inner, name) => {
          const circuit = result.perCircuit[name];
          return inner + (circuit === undefined ? 0 : circuit.rejected + circuit.failed + circuit.error);
        }, 0),
      0,
    );
    const firstReconcileMs = Math.min(...reconciledEvents.flat().map((event) => event.seenAt - restartedAt));
    console.log(
      `[figures] kill 5 s under load: ${total} calls in ${seconds.toFixed(1)} s (${Math.round(total / seconds)}/s over 3 processes), ` +
        `outage ${outageMs} ms, breaker-layer failures ${breakerErrors.length}, healthy-circuit calls not ok ${healthyNotOk}, ` +
        `calls admitted on the open circuit ${openAdmitted}, max call latency ${maxMs.toFixed(2)} ms (p99 ${p99Ms.toFixed(3)} ms; bound ${OPERATION_TIMEOUT_MS + 20} ms), ` +
        `touched circuits ${[...touchedNames].sort().join(',')}, all reconciled into Redis ${reconciledMs} ms after restart ` +
        `(first reconciled event ${firstReconcileMs} ms; merged per process ${reconciledEvents.map((list) => list.reduce((sum, event) => sum + (event.merged ?? 0), 0)).join('/')})`,
    );
    expect(total / seconds).toBeGreaterThan(1_800);
    expect(breakerErrors).toEqual([]);
    expect(healthyNotOk).toBe(0);
    expect(openAdmitted).toBe(0);
    expect(maxMs).toBeLessThanOrEqual(OPERATION_TIMEOUT_MS + 20);
    expect(reconciledMs).toBeLessThanOrEqual(2_000);
  });

  it('a process cut off through the fault proxy never overwrites newer Redis state after the heal', async () => {
    const keyPrefix = `cut${++counter}:`;
    proxy = await startFaultProxy({ target: server });
    const circuits = [
      { name: 'stale-open', options: { failureThreshold: 2, openTimeoutMs: 60_000 } },
      { name: 'stale-touched', options: { failureThreshold: 2, openTimeoutMs: 60_000 } },
    ];
    const [isolated] = (await spawn(1, { url: proxy.url })) as [Worker];
    const [other, third] = (await spawn(2)) as [Worker, Worker];
    await Promise.all(
      [isolated, other, third].map((worker) =>
        worker.call('setup', { registryOptions: { keyPrefix }, circuits }),
      ),
    );
    await other.call('failing', { names: ['stale-open', 'stale-touched'], on: true });
    await other.call('call', { name: 'stale-open' });
    await other.call('call', { name: 'stale-open' });
    await waitFor(
      async () => (await isolated.call<WorkerStatus>('status')).circuits['stale-open']?.status === 'open',
    );

    proxy.setMode('reset');
    await waitFor(async () => (await isolated.call<WorkerStatus>('status')).fallbackMode, {
      timeoutMs: 3_000,
    });
    // Cut off, the isolated process opens stale-touched in its memory ...
    await isolated.call('failing', { names: ['stale-touched'], on: true });
    await isolated.call('call', { name: 'stale-touched' });
    await isolated.call('call', { name: 'stale-touched' });
    const cut = await isolated.call<WorkerStatus>('status');
    expect(cut.circuits['stale-touched']?.status).toBe('open');
    expect(cut.fallbackStatus.fallbackStates).toEqual(['stale-touched']);
    await sleep(20);
    // ... while the others change both circuits later: open it, then close both by reset.
    await other.call('call', { name: 'stale-touched' });
    await other.call('call', { name: 'stale-touched' });
    await other.call('reset', { name: 'stale-touched' });
    await third.call('reset', { name: 'stale-open' });
    const newer = {
      'stale-open': await readState(keyPrefix, 'stale-open'),
      'stale-touched': await readState(keyPrefix, 'stale-touched'),
    };
    expect(newer['stale-open']?.state).toBe('closed');
    expect(newer['stale-touched']?.state).toBe('closed');

    proxy.setMode('pass');
    const healedAt = Date.now();
    // Watch Redis through the heal: the stale open copies must never appear.
    let samples = 0;
    let overwritten = 0;
    let reconciledAt = 0;
    while (Date.now() - healedAt < 2_500) {
      const [open, touched] = await Promise.all([
        readState(keyPrefix, 'stale-open'),
        readState(keyPrefix, 'stale-touched'),
      ]);
      samples++;
      if (open?.state !== 'closed' || touched?.state !== 'closed') overwritten++;
      if (reconciledAt === 0) {
        const status = await isolated.call<WorkerStatus>('status');
        if (status.connected && status.fallbackStatus.fallbackStatesCount === 0) reconciledAt = Date.now();
      }
      await sleep(10);
    }
    const final = await isolated.call<WorkerStatus>('status');
    const { events } = await isolated.call<{
      events: Array<{ type: string; conflicting?: number; merged?: number }>;
    }>('events');
    const reconciled = events.filter(
      (event) => event.type === 'reconciled' && (event.merged ?? 0) + (event.conflicting ?? 0) > 0,
    );
    console.log(
      `[figures] partition: isolated process reconciled ${reconciledAt - healedAt} ms after the heal; ` +
        `${samples} Redis samples over 2.5 s, stale overwrites ${overwritten}; ` +
        `isolated views after heal: stale-open ${final.circuits['stale-open']?.status}, stale-touched ${final.circuits['stale-touched']?.status}; ` +
        `reconciled events: ${reconciled.map((event) => `merged ${event.merged} conflicting ${event.conflicting}`).join(', ')}`,
    );
    expect(reconciledAt).toBeGreaterThan(0);
    expect(overwritten).toBe(0);
    expect(reconciled.some((event) => (event.conflicting ?? 0) >= 1)).toBe(true);
    expect(final.circuits['stale-open']?.status).toBe('closed');
    expect(final.circuits['stale-touched']?.status).toBe('closed');
    const after = await readState(keyPrefix, 'stale-touched');
    expect(after?.version).toBeGreaterThanOrEqual(newer['stale-touched']?.version ?? 0);
  });

  it('Redis restarted empty, and FLUSHALL: open circuits are re-seeded and stay open', async () => {
    const keyPrefix = `reseed${++counter}:`;
    const circuits = [{ name: 'kept-open', options: { failureThreshold: 2, openTimeoutMs: 60_000 } }];
    const fleet = await spawn(2);
    await Promise.all(
      fleet.map((worker) => worker.call('setup', { registryOptions: { keyPrefix }, circuits })),
    );
    const [first, second] = fleet as [Worker, Worker];
    await first.call('failing', { names: ['kept-open'], on: true });
    await first.call('call', { name: 'kept-open' });
    await first.call('call', { name: 'kept-open' });
    await waitFor(
      async () => (await second.call<WorkerStatus>('status')).circuits['kept-open']?.status === 'open',
    );
    const openUntil = (await readState(keyPrefix, 'kept-open'))?.openUntil;

    const client = await connectObserver();
    await client.flushall();
    const flushedAt = Date.now();
    await waitFor(async () => (await readState(keyPrefix, 'kept-open'))?.state === 'open', {
      timeoutMs: 5_000,
      intervalMs: 10,
    });
    const flushReseedMs = Date.now() - flushedAt;

    await server.restart();
    const restartedAt = Date.now();
    await waitFor(async () => (await readState(keyPrefix, 'kept-open'))?.state === 'open', {
      timeoutMs: 5_000,
      intervalMs: 10,
    });
    const restartReseedMs = Date.now() - restartedAt;

    const stored = await readState(keyPrefix, 'kept-open');
    expect(stored?.openUntil).toBe(openUntil);
    for (const worker of fleet) {
      const call = await worker.call<{ outcome: string }>('call', { name: 'kept-open' });
      expect(call.outcome).toBe('rejected');
      expect((await worker.call<WorkerStatus>('status')).circuits['kept-open']?.status).toBe('open');
    }
    console.log(
      `[figures] re-seed: open circuit back in Redis ${flushReseedMs} ms after FLUSHALL and ${restartReseedMs} ms after an empty restart; open period unchanged (${stored?.openUntil === openUntil})`,
    );
  });

  it('started with Redis down: the first call is served by the fallback, and the registry connects and reconciles by itself', async () => {
    const keyPrefix = `late${++counter}:`;
    await server.kill();
    const circuits = [
      { name: 'first', options: { failureThreshold: 5 } },
      { name: 'tripped-offline', options: { failureThreshold: 2, openTimeoutMs: 60_000 } },
    ];
    const [worker] = (await spawn(1)) as [Worker];
    const setup = await worker.call<{ createdMs: number; connected: boolean }>('setup', {
      registryOptions: { keyPrefix },
      circuits,
    });
    expect(setup.connected).toBe(false);
    const firstCall = await worker.call<{ outcome: string; ms: number }>('call', { name: 'first' });
    expect(firstCall.outcome).toBe('ok');
    expect(firstCall.ms).toBeLessThanOrEqual(OPERATION_TIMEOUT_MS);
    await worker.call('failing', { names: ['tripped-offline'], on: true });
    await worker.call('call', { name: 'tripped-offline' });
    await worker.call('call', { name: 'tripped-offline' });
    const offline = await worker.call<WorkerStatus>('status');
    expect(offline.circuits['tripped-offline']?.status).toBe('open');

    await sleep(1_000);
    await server.restart();
    const startedAt = Date.now();
    await waitFor(async () => (await readState(keyPrefix, 'tripped-offline'))?.state === 'open', {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    const reconciledMs = Date.now() - startedAt;
    const online = await worker.call<WorkerStatus>('status');
    expect(online.connected).toBe(true);
    console.log(
      `[figures] started with Redis down: factory returned in ${setup.createdMs.toFixed(1)} ms, first call served in ${firstCall.ms.toFixed(2)} ms ` +
        `(bound ${OPERATION_TIMEOUT_MS} ms); Redis started later: circuit opened offline was in Redis ${reconciledMs} ms after Redis answered`,
    );
  });

  it('cleanup() under load and during an outage settles every call and the process exits by itself within 1 s', async () => {
    const figures: string[] = [];
    for (const outage of [false, true]) {
      if (!outage) await server.restart();
      const keyPrefix = `exit${++counter}:`;
      const circuits = [
        { name: 'fast', options: {} },
        { name: 'slow', options: { callTimeoutMs: 2_000 } },
        { name: 'broken', options: { failureThreshold: 3 } },
      ];
      const [worker] = (await spawn(1)) as [Worker];
      await worker.call('setup', { registryOptions: { keyPrefix, cleanupGraceMs: 300 }, circuits });
      await worker.call('slow', { name: 'slow', ms: 1_000 });
      await worker.call('failing', { names: ['broken'], on: true });
      if (outage) {
        await server.kill();
        await waitFor(async () => (await worker.call<WorkerStatus>('status')).fallbackMode, {
          timeoutMs: 3_000,
        });
      }
      const armed = nextArmedMessage(worker);
      const result = await worker.call<{
        inFlightBefore: number;
        inFlightAfter: number;
        settled: number;
        counts: Record<string, number>;
        cleanupMs: number;
      }>('cleanupUnderLoad', { names: ['fast', 'slow', 'broken'], rate: 1_000, loadMs: 500, helpers: true });
      const { exitArmedAt } = await armed;
      const exitedAt = await Promise.race([worker.exited, sleep(3_000).then(() => Number.NaN)]);
      const exitMs = exitedAt - exitArmedAt;
      figures.push(
        `${outage ? 'during outage' : 'Redis up'}: ${result.inFlightBefore} calls in flight at cleanup, ${result.settled} issued, all settled (${JSON.stringify(result.counts)}), ` +
          `cleanup ${result.cleanupMs.toFixed(0)} ms, in flight after ${result.inFlightAfter}, process exited ${exitMs} ms after letting go of IPC`,
      );
      expect(result.inFlightBefore).toBeGreaterThan(0);
      expect(result.inFlightAfter).toBe(0);
      expect(exitMs).toBeLessThan(1_000);
    }
    console.log(`[figures] cleanup(): ${figures.join('; ')}`);
    await server.restart();
  });
});

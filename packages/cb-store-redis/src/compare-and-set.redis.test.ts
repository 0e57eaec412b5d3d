import { type CircuitStateChange, createInitialState, resolvePolicy } from '@xnai/cb-core';
import { type RedisServer, startRedis, waitFor } from '@xnai/test-utils';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStateStore } from './redis-state-store.js';

describe('RedisStateStore.compareAndSet', () => {
  let server: RedisServer;
  let client: Redis;
  let store: RedisStateStore;

  beforeAll(async () => {
    server = await startRedis();
    client = new Redis(server.url, { lazyConnect: true, enableOfflineQueue: false });
    await client.connect();
    store = new RedisStateStore({ redis: client, keyPrefix: 'cas:' });
  });
  afterAll(async () => {
    await store?.close();
    client?.disconnect();
    await server?.stop();
  });

  it('re-seeds an absent circuit, and refuses a write fenced on a version that moved on', async () => {
    const changes: CircuitStateChange[] = [];
    store.subscribe((change) => changes.push(change), { name: 'seeded' });
    await store.whenSubscribed();
    const open = {
      ...createInitialState(Date.now()),
      state: 'open' as const,
      openUntil: Date.now() + 60_000,
      version: 42,
    };
    const first = await store.compareAndSet('seeded', 0, open);
    expect(first.written).toBe(true);
    expect(first.state).toMatchObject({ state: 'open', openUntil: open.openUntil });
    expect(first.state?.version).toBeGreaterThan(42);
    await waitFor(() => changes.length === 1);
    expect(changes[0]?.transition).toMatchObject({ from: 'closed', to: 'open', reason: 'merged' });

    // Another writer moves the circuit on; a merge computed from the old read must not land.
    const moved = await store.override(
      'seeded',
      { mode: 'forced_open', reason: 'operator' },
      resolvePolicy(),
    );
    const stale = await store.compareAndSet('seeded', first.state?.version ?? 0, {
      ...open,
      state: 'closed',
      openUntil: 0,
    });
    expect(stale.written).toBe(false);
    expect(stale.state).toEqual(moved);
    expect(await store.getState('seeded')).toEqual(moved);

    const again = await store.compareAndSet('seeded', 0, open);
    expect(again).toEqual({ written: false, state: moved });
  });

  it("keeps the circuit's own open period and probe leases, longer than the default policy's", async () => {
    const now = Date.now();
    const halfOpen = {
      ...createInitialState(now),
      state: 'half_open' as const,
      lastStateChange: now,
      openUntil: now + 1_800_000,
      probes: [{ id: 'probe-1', round: 1, expiresAt: now + 1_800_000 }],
      version: 7,
    };
    const written = await store.compareAndSet('long-periods', 0, halfOpen);
    expect(written.written).toBe(true);
    const stored = await store.getState('long-periods');
    // The default policy caps an open period at 300 s and a lease at 30 s; neither applies here.
    expect(stored?.openUntil).toBe(halfOpen.openUntil);
    expect(stored?.probes).toEqual(halfOpen.probes);
  });

  it('reports an absent circuit when a write expected one', async () => {
    const result = await store.compareAndSet('never-written', 5, createInitialState(Date.now()));
    expect(result).toEqual({ written: false, state: undefined });
  });
});

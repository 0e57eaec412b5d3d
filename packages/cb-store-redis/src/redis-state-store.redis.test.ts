import { createCircuitBreaker, resolvePolicy } from '@xnai/cb-core';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import {
  commandCounts,
  describeStoreContract,
  type RedisServer,
  scriptsRun,
  startFaultProxy,
  startRedis,
  waitFor,
} from '@xnai/test-utils';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStateStore } from './redis-state-store.js';

let server: RedisServer;
let manager: RedisConnectionManager;
let client: Redis;

beforeAll(async () => {
  server = await startRedis();
  manager = new RedisConnectionManager({ url: server.url });
  await manager.connect();
  client = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
  await client.connect();
});

afterAll(async () => {
  await manager?.disconnect();
  client?.disconnect();
  await server?.stop();
});

describeStoreContract('RedisStateStore over RedisConnectionManager', {
  create: () => new RedisStateStore({ redis: manager, keyPrefix: `contract:${Date.now()}:` }),
  createWithTtl: (ttlMs) =>
    new RedisStateStore({ redis: manager, keyPrefix: `contract-ttl:${Date.now()}:`, ttlMs }),
});

describeStoreContract('RedisStateStore over a bare ioredis client', {
  create: () => new RedisStateStore({ redis: client, keyPrefix: `contract-client:${Date.now()}:` }),
  createWithTtl: (ttlMs) =>
    new RedisStateStore({ redis: client, keyPrefix: `contract-client-ttl:${Date.now()}:`, ttlMs }),
});

describe('RedisStateStore keys and views', () => {
  it('writes with the seed TTL of one hour, refreshed by each write', async () => {
    const store = new RedisStateStore({ redis: client, keyPrefix: 'ttl:' });
    await store.record('t', [{ kind: 'failure' }], resolvePolicy());
    const ttl = await client.pttl('ttl:t');
    expect(ttl).toBeGreaterThan(3_590_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
    const short = new RedisStateStore({ redis: client, keyPrefix: 'ttl-short:', ttlMs: 150 });
    await short.record('t', [{ kind: 'failure' }], resolvePolicy());
    await waitFor(async () => (await short.getState('t')) === undefined, { timeoutMs: 2_000 });
    await store.close();
    await short.close();
  });

  it('re-reads the views it serves after its connection came back, catching changes it missed', async () => {
    const proxy = await startFaultProxy({ target: server });
    const cut = new RedisConnectionManager({ url: proxy.url, healthCheckIntervalMs: 100 });
    await cut.connect();
    const store = new RedisStateStore({ redis: cut, keyPrefix: 'resync:' });
    const other = new RedisStateStore({ redis: client, keyPrefix: 'resync:' });
    const breaker = createCircuitBreaker({
      name: 'r',
      store,
      failureThreshold: 1,
      refreshIntervalMs: 3_600_000,
    });
    await breaker.execute(() => 'ok');
    await store.whenSubscribed();

    proxy.setMode('reset');
    await waitFor(() => cut.fallbackMode, { timeoutMs: 2_000 });
    // While this instance is cut off, another one opens the circuit: the announcement never reaches it.
    await other.record('r', [{ kind: 'failure' }], breaker.policy);
    expect(breaker.status).toBe('closed');
    proxy.setMode('pass');
    await waitFor(() => breaker.status === 'open', { timeoutMs: 3_000 });

    await breaker.close();
    await store.close();
    await other.close();
    await cut.disconnect();
    await proxy.close();
  });
});

describe('RedisStateStore reads a call waits on', () => {
  it('sends a call’s first read ahead of a burst that waited for the events subscription', async () => {
    const keyPrefix = `expedite:${Date.now()}:`;
    const count = 4_000;
    const names = Array.from({ length: count }, (_, index) => `c${index}`);
    const last = names[count - 1] as string;
    const other = new RedisStateStore({ redis: client, keyPrefix });
    await other.override(last, { mode: 'forced_open' }, resolvePolicy());
    await other.close();
    // A store whose subscription is not live yet: its reads wait for it, then queue (256 in flight).
    const store = new RedisStateStore({ redis: client, keyPrefix });
    let answered = 0;
    const getState = store.getState.bind(store);
    store.getState = (name) =>
      getState(name).then((data) => {
        answered += 1;
        return data;
      });
    try {
      const breakers = names.map((name) => createCircuitBreaker({ name, store }));
      for (const breaker of breakers) breaker.refresh().catch(() => undefined);
      const error = await (breakers[count - 1] as (typeof breakers)[number])
        .execute(() => 'ran')
        .then(
          () => null,
          (rejection: unknown) => rejection,
        );
      const answeredBefore = answered;
      await waitFor(() => answered >= count, { timeoutMs: 60_000 });
      console.log(
        `[figures] direct Redis store: a call on the last of ${count} circuits answered after ${answeredBefore} first reads`,
      );
      expect(error).toMatchObject({ name: 'CircuitOpenError', reason: 'forced_open' });
      expect(answeredBefore).toBeLessThan(count / 4);
      for (const breaker of breakers) await breaker.close();
    } finally {
      await store.close();
    }
  }, 120_000);

  it('reads a circuit alone in one pipeline of HGET, EXISTS and TIME, with no script', async () => {
    const store = new RedisStateStore({ redis: client, keyPrefix: `lone:${Date.now()}:` });
    const admin = new Redis(client.options.port ?? 6379, client.options.host ?? '127.0.0.1');
    try {
      await store.record('present', [{ kind: 'failure' }], resolvePolicy());
      const counts = async (read: () => Promise<unknown>) => {
        await admin.config('RESETSTAT');
        await read();
        const sent = await commandCounts(admin);
        return {
          hget: sent.hget ?? 0,
          exists: sent.exists ?? 0,
          time: sent.time ?? 0,
          scripts: scriptsRun(sent),
        };
      };
      const one = { hget: 1, exists: 1, time: 1, scripts: 0 };
      expect(await counts(() => store.getState('absent'))).toEqual(one);
      expect(await counts(() => store.getState('present'))).toEqual(one);
      expect((await store.getState('present'))?.failureCount).toBe(1);
    } finally {
      await store.close();
      admin.disconnect();
    }
  });
});

describe('RedisStateStore clock', () => {
  it('tells Redis time as well as its fastest round trip allows, whatever lopsided replies or a stepped clock say', async () => {
    // Replies held up on the way back (Redis ran the script at once) are what a midpoint estimate
    // gets wrong by half the delay; a clock stepped back must not be held to the old offset.
    const proxy = await startFaultProxy({ target: server });
    const lopsided = new Redis(proxy.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      lazyConnect: true,
    });
    await lopsided.connect();
    let skewMs = -600_000;
    const store = new RedisStateStore({
      redis: lopsided,
      keyPrefix: 'clock:',
      operationTimeoutMs: 5_000,
      clock: { now: () => Date.now() + skewMs },
    });
    // Redis runs on this machine, so its time is Date.now(): the store's clock must tell that.
    const error = () => store.clock.now() - Date.now();
    let fastest = Number.POSITIVE_INFINITY;
    const read = async (): Promise<void> => {
      const started = performance.now();
      await store.getState('c');
      fastest = Math.min(fastest, performance.now() - started);
    };
    try {
      for (let i = 0; i < 5; i++) await read();
      const bound = fastest / 2 + 2;
      expect(Math.abs(error())).toBeLessThanOrEqual(bound);

      proxy.setMode({ type: 'latency', latencyMs: 300 });
      for (let i = 0; i < 3; i++) await store.getState('c');
      const lopsidedError = error();
      expect(Math.abs(lopsidedError)).toBeLessThanOrEqual(bound);

      // This host's clock steps back 5 s (an NTP correction) while replies are still slow.
      skewMs -= 5_000;
      const stepStarted = performance.now();
      await store.getState('c');
      const stepRoundTrip = performance.now() - stepStarted;
      const steppedError = error();
      // Taken from that one lopsided reply: off by at most half its round trip (300 ms and more).
      expect(Math.abs(steppedError)).toBeLessThanOrEqual(stepRoundTrip / 2 + 2);
      proxy.setMode('pass');
      fastest = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 5; i++) await read();
      expect(Math.abs(error())).toBeLessThanOrEqual(fastest / 2 + 2);
      console.log(
        `[figures] store clock error: ${lopsidedError.toFixed(1)} ms after 300 ms lopsided replies (bound ${bound.toFixed(1)} ms), ${steppedError.toFixed(1)} ms right after a 5 s step back, ${error().toFixed(1)} ms once replies were fast again`,
      );
    } finally {
      await store.close();
      lopsided.disconnect();
      await proxy.close();
    }
  });
});

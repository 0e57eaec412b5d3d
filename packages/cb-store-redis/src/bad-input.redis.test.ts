import { createServer, type Server } from 'node:net';
import {
  type CircuitStateData,
  createCircuitBreaker,
  createInitialState,
  resolvePolicy,
  StoreUnavailableError,
} from '@xnai/cb-core';
import { type RedisServer, startRedis } from '@xnai/test-utils';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DATA_FIELD, decodeStored } from './codec.js';
import { type CorruptStateEvent, RedisStateStore } from './redis-state-store.js';
import readScript from './scripts/read.lua';

const policy = resolvePolicy({ failureThreshold: 3 });
const FAIL = { kind: 'failure' as const };

/** Positions of the packed layout's fields (see codec.ts). */
const AT = {
  schemaVersion: 0,
  state: 1,
  failureCount: 2,
  successCount: 3,
  lastFailureTime: 4,
  lastSuccessTime: 5,
  lastStateChange: 6,
  version: 7,
  consecutiveOpens: 8,
  openUntil: 9,
  halfOpenRound: 10,
  decidedAt: 11,
  probes: 12,
  windowKind: 13,
  window: 14,
} as const;

describe('RedisStateStore with corrupt, foreign or missing data', () => {
  let server: RedisServer;
  let client: Redis;
  let raw: Redis;
  let store: RedisStateStore;
  let problems: CorruptStateEvent[];

  beforeAll(async () => {
    server = await startRedis();
    client = new Redis(server.url, { lazyConnect: true, enableOfflineQueue: false });
    raw = new Redis(server.url, { lazyConnect: true });
    await Promise.all([client.connect(), raw.connect()]);
  });
  afterAll(async () => {
    client?.disconnect();
    raw?.disconnect();
    await server?.stop();
  });

  const fresh = (): RedisStateStore => {
    store = new RedisStateStore({ redis: client, keyPrefix: `bad:${Math.random().toString(36).slice(2)}:` });
    problems = [];
    store.onCorruptState((event) => problems.push(event));
    return store;
  };
  afterEach(async () => {
    await store?.close();
  });

  /** Replaces fields of the packed data under `key` in place, as a foreign writer would. */
  async function patchData(key: string, patch: Partial<Record<keyof typeof AT, string>>): Promise<void> {
    const parts = String(await raw.hget(key, DATA_FIELD)).split('|');
    for (const [field, value] of Object.entries(patch)) parts[AT[field as keyof typeof AT]] = value;
    await raw.hset(key, DATA_FIELD, parts.join('|'));
  }

  it('treats a key of another type as absent, reports and counts it, and repairs it on the next write', async () => {
    fresh();
    await raw.rpush(`${store.keyPrefix}listy`, 'a', 'b');
    expect(await store.getState('listy')).toBeUndefined();
    expect(problems).toEqual([{ name: 'listy', problem: 'key holds a list, not a hash', discarded: true }]);
    // Acquire on a closed circuit writes nothing, so nothing is repaired yet, but nothing throws.
    expect((await store.acquire('listy', policy, { leaseId: 'x' })).admission.allowed).toBe(true);
    const data = await store.record('listy', [FAIL], policy);
    expect(data).toMatchObject({ state: 'closed', failureCount: 1 });
    expect(await raw.type(`${store.keyPrefix}listy`)).toBe('hash');
    expect(await store.getState('listy')).toEqual(data);
    expect(store.getStats().corruptStates).toBeGreaterThanOrEqual(2);
  });

  it.each([
    ['an unknown state', { state: 'ajar' }, 'unknown state'],
    ['a non-numeric counter', { failureCount: 'many' }, 'failureCount is not a non-negative integer'],
    ['a negative counter', { successCount: '-3' }, 'successCount is not a non-negative integer'],
    ['a NaN counter', { consecutiveOpens: 'NaN' }, 'consecutiveOpens is not a non-negative integer'],
    ['a hex number', { version: '0x10' }, 'version is not a non-negative integer'],
    ['a 17-digit counter', { failureCount: '1'.repeat(17) }, 'failureCount is not a non-negative integer'],
    [
      'a time window bucket with more failures than calls',
      { windowKind: 'time', window: '0,1,2,0' },
      'window is malformed',
    ],
    ['a foreign schema', { schemaVersion: '9' }, 'schemaVersion is not 1'],
    ['malformed probes', { probes: 'a;b;c' }, 'probes are malformed'],
    ['a malformed window', { windowKind: 'count', window: 'sxs' }, 'window is malformed'],
  ])('treats %s as absent and repairs it on the next write', async (_label, patch, problem) => {
    fresh();
    const key = `${store.keyPrefix}c`;
    await store.record('c', [FAIL], policy);
    await patchData(key, patch);
    expect(await store.getState('c')).toBeUndefined();
    expect(problems.at(-1)).toEqual({ name: 'c', problem, discarded: true });
    const repaired = await store.record('c', [FAIL], policy);
    // The corrupt data counted for nothing: the circuit starts over with this one failure.
    expect(repaired).toMatchObject({ state: 'closed', failureCount: 1 });
    expect(await store.getState('c')).toEqual(repaired);
  });

  it('clamps timestamps in the future to Redis time and keeps the rest', async () => {
    fresh();
    const key = `${store.keyPrefix}future`;
    await store.record('future', [FAIL], policy);
    const inAYear = String(Date.now() + 365 * 86_400_000);
    await patchData(key, { lastFailureTime: inAYear, lastStateChange: inAYear });
    const data = (await store.getState('future')) as CircuitStateData;
    expect(data.failureCount).toBe(1);
    expect(data.lastFailureTime).toBeLessThanOrEqual(Date.now() + 1_000);
    expect(data.lastStateChange).toBeLessThanOrEqual(Date.now() + 1_000);
    expect(problems.map((p) => p.discarded)).toEqual([false]);
    expect(store.getStats().clampedStates).toBe(1);
    // The write path clamps the same way and persists the clamped values.
    const written = await store.record('future', [FAIL], policy);
    expect(written.failureCount).toBe(2);
    expect(written.lastStateChange).toBeLessThanOrEqual(Date.now() + 1_000);
  });

  it('survives a 1 MB garbage value', async () => {
    fresh();
    const key = `${store.keyPrefix}huge`;
    await store.record('huge', [FAIL], policy);
    await patchData(key, { windowKind: 'count', window: 'z'.repeat(1024 * 1024) });
    expect(await store.getState('huge')).toBeUndefined();
    expect(problems.at(-1)?.problem).toBe('window is malformed');
    expect((await store.record('huge', [FAIL], policy)).failureCount).toBe(1);
    expect(await raw.hstrlen(key, DATA_FIELD)).toBeLessThan(200);
  });

  it('treats a hash of another layout as absent and replaces it whole on the next write', async () => {
    fresh();
    const key = `${store.keyPrefix}layout`;
    // What a hash of one field per value (or anyone else's hash) looks like: no packed data field.
    await raw.hset(key, { schemaVersion: '1', state: 'open', failureCount: '9', openUntil: '9'.repeat(13) });
    expect(await store.getState('layout')).toBeUndefined();
    expect(problems.at(-1)).toEqual({ name: 'layout', problem: 'schemaVersion is not 1', discarded: true });
    expect((await store.acquire('layout', policy, { leaseId: 'x' })).admission.allowed).toBe(true);
    const written = await store.record('layout', [FAIL], policy);
    expect(written).toMatchObject({ state: 'closed', failureCount: 1 });
    expect(await raw.hkeys(key)).toEqual([DATA_FIELD]);
  });

  it('keeps an override reason holding the layout separator, newlines and non-ASCII text', async () => {
    fresh();
    const reason = 'maintenance | 1|2|3 = done?\nnext line\u0000after a NUL byte — ünïcode 🚧';
    const data = await store.override('reasons', { mode: 'forced_open', reason, durationMs: 60_000 }, policy);
    expect(data.override).toMatchObject({ mode: 'forced_open', reason });
    expect((await store.getState('reasons'))?.override?.reason).toBe(reason);
    const empty = await store.override('reasons', { mode: 'forced_closed', reason: '' }, policy);
    expect(empty.override).toMatchObject({ reason: '', expiresAt: null });
    expect((await store.getState('reasons'))?.override?.reason).toBe('');
    expect(problems).toEqual([]);
  });

  it('decodes any data alike in the script and in TypeScript: same state, or the same problem', async () => {
    // The script judges what it reads (acquire reports a problem in its reply), the store's reads
    // judge it in TypeScript (getState): random corruptions of real data must get one verdict.
    fresh();
    const key = `${store.keyPrefix}p`;
    await store.override('p', { mode: 'forced_closed', reason: 'r' }, policy);
    await store.record('p', [FAIL], policy);
    const valid = String(await raw.hget(key, DATA_FIELD));
    const parts = valid.split('|');
    const piece = fc.oneof(
      fc.constantFrom(
        '',
        '0',
        '-1',
        '1e3',
        '0x1',
        ' 1',
        '1'.repeat(17),
        'closed',
        'deleted',
        'count',
        'time',
      ),
      fc.constantFrom(
        'none',
        'forced_open',
        'ajar',
        's;f',
        'sSfF',
        '1,2,1,0',
        '1,1,2,0',
        'a,1,2',
        'id,1,2;x',
        '=a\u0000b',
        '1\u00002',
      ),
      fc.string({ maxLength: 6 }),
    );
    const corrupt = fc.oneof(
      fc.tuple(fc.nat({ max: parts.length }), piece).map(([at, value]) => {
        const copy = [...parts];
        copy[at] = value;
        return copy.join('|');
      }),
      fc
        .tuple(fc.nat({ max: valid.length }), fc.nat({ max: 4 }))
        .map(([at, n]) => valid.slice(0, at) + valid.slice(at + n)),
      fc.constantFrom(
        '1|deleted|5|7',
        '1|deleted|5',
        '1|deleted|x|7',
        '2|deleted|5|7',
        `1|deleted|5|${'1'.repeat(17)}`,
        '',
      ),
    );
    await fc.assert(
      fc.asyncProperty(corrupt, async (data) => {
        await raw.hset(key, DATA_FIELD, data);
        problems = [];
        const read = await store.peek('p');
        const readProblems = problems.map((p) => p.problem);
        problems = [];
        await store.acquire('p', policy, { leaseId: 'x' });
        const scriptProblems = problems.map((p) => p.problem);
        expect(scriptProblems).toEqual(readProblems);
        // The store reads what decodeStored says it holds.
        const decoded = decodeStored(data, { now: Date.now(), limits: policy });
        expect(read === undefined).toBe(decoded.stored === undefined);
      }),
      { numRuns: 300 },
    );
  });

  it('reads circuits asked for together as one pipeline of HGETs, judging each as a lone read does', async () => {
    fresh();
    const names = Array.from({ length: 40 }, (_, index) => `b${index}`);
    for (const name of names.slice(0, 30)) await store.record(name, [FAIL], policy);
    await store.deleteState('b0');
    await raw.rpush(`${store.keyPrefix}b30`, 'not ours');
    await raw.hset(`${store.keyPrefix}b31`, 'someone', 'else');
    await patchData(`${store.keyPrefix}b1`, { state: 'ajar' });
    const lone = new Map<string, unknown>();
    for (const name of names) lone.set(name, await store.peek(name));
    // The read script (a cluster's reads, and re-reads of what a pipeline cannot tell) says what
    // TYPE and HGET say of every one of them.
    for (const name of names) {
      const key = `${store.keyPrefix}${name}`;
      const [, type, data] = (await raw.eval(readScript, 1, key)) as [string, string, string | undefined];
      const expected = await raw.type(key);
      expect([name, type]).toEqual([name, expected]);
      if (expected === 'hash') expect([name, data]).toEqual([name, (await raw.hget(key, DATA_FIELD)) ?? '']);
    }
    const loneProblems = problems.map((p) => `${p.name}: ${p.problem}`);
    problems = [];
    await raw.config('RESETSTAT');
    const together = await Promise.all(names.map((name) => store.peek(name)));
    const stats = await raw.info('commandstats');
    const calls = (command: string) =>
      Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    expect(together).toEqual(names.map((name) => lone.get(name)));
    expect(problems.map((p) => `${p.name}: ${p.problem}`).sort()).toEqual(loneProblems);
    expect(loneProblems).toEqual([
      'b1: unknown state',
      'b30: key holds a list, not a hash',
      'b31: schemaVersion is not 1',
    ]);
    // One TIME and one HGET per circuit; EXISTS and TYPE only for what HGET could not tell, and the
    // read script (atomic) for the one key that exists without our field (b31). Read one at a time
    // above, each was the same pipeline of one.
    expect({
      time: calls('time'),
      hget: calls('hget'),
      exists: calls('exists'),
      type: calls('type'),
      scripts: calls('evalsha_ro') + calls('evalsha'),
    }).toEqual({ time: 2, hget: 41, exists: 10, type: 1, scripts: 1 });
  });

  it('carries on when the key is deleted between operations', async () => {
    fresh();
    await store.record('vanishing', [FAIL, FAIL], policy);
    await raw.del(`${store.keyPrefix}vanishing`);
    expect(await store.getState('vanishing')).toBeUndefined();
    expect((await store.record('vanishing', [FAIL], policy)).failureCount).toBe(1);
    expect(problems).toEqual([]);
  });

  it('keeps every circuit to its own key whatever the name', async () => {
    fresh();
    const names = ['a', 'a*', 'a?', '[a]', 'a\\', 'a:b', 'a b', '*'];
    for (const [index, name] of names.entries()) {
      await store.record(
        name,
        Array.from({ length: index + 1 }, () => FAIL),
        resolvePolicy({ failureThreshold: 100 }),
      );
    }
    for (const [index, name] of names.entries())
      expect((await store.getState(name))?.failureCount).toBe(index + 1);
    expect((await store.listNames()).sort()).toEqual([...names].sort());
    const all = await store.getAllStates();
    expect([...all.keys()].sort()).toEqual([...names].sort());
  });

  it('ignores foreign messages on the events channel', async () => {
    fresh();
    const seen: string[] = [];
    store.subscribe((change) => seen.push(change.name));
    await store.whenSubscribed();
    await raw.publish(store.channel, 'not json');
    await raw.publish(store.channel, JSON.stringify({ hello: 'someone else' }));
    await raw.publish(store.channel, JSON.stringify({ name: 'x', data: '1|nonsense' }));
    await store.record('real', [FAIL, FAIL, FAIL], policy);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen).toEqual(['real']);
    expect(store.getStats().foreignMessages).toBe(2);
  });
});

describe('RedisStateStore on Redis error replies', () => {
  let server: RedisServer;
  let client: Redis;
  let admin: Redis;

  beforeAll(async () => {
    server = await startRedis({ controllable: true });
    client = new Redis(server.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    admin = new Redis(server.url, { lazyConnect: true });
    await Promise.all([client.connect(), admin.connect()]);
  });
  afterAll(async () => {
    client?.disconnect();
    admin?.disconnect();
    await server?.stop();
  });

  async function expectTyped(operation: Promise<unknown>, reply: RegExp): Promise<void> {
    const error = await operation.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(reply);
    expect((error as Error).cause).toBeDefined();
  }

  it('reloads a flushed script transparently (NOSCRIPT)', async () => {
    const store = new RedisStateStore({ redis: client, keyPrefix: 'noscript:' });
    await store.record('n', [FAIL], policy);
    // A hash without our field is read with the read script (a plain read goes as TIME and HGET).
    await admin.hset('noscript:foreign', 'someone', 'else');
    await store.getState('foreign');
    const loaded = store.getStats().scriptReloads;
    await admin.script('FLUSH');
    expect((await store.record('n', [FAIL], policy)).failureCount).toBe(2);
    await admin.script('FLUSH');
    expect(await store.getState('foreign')).toBeUndefined();
    expect(store.getStats().scriptReloads - loaded).toBe(2);
    await store.close();
  });

  it('turns OOM into StoreUnavailableError, and a breaker on it keeps serving its callers', async () => {
    const store = new RedisStateStore({ redis: client, keyPrefix: 'oom:' });
    await admin.config('SET', 'maxmemory', '1');
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    try {
      await expectTyped(store.record('o', [FAIL], policy), /OOM/);
      const breaker = createCircuitBreaker({ name: 'o', store, failureThreshold: 1 });
      const errors: unknown[] = [];
      breaker.onStoreError((event) => errors.push(event.error));
      await expect(breaker.execute(() => 'fine')).resolves.toBe('fine');
      await expect(breaker.execute(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
      await breaker.flush();
      expect(errors.some((e) => e instanceof StoreUnavailableError)).toBe(true);
      expect(breaker.status).toBe('open');
      await breaker.close();
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    await store.close();
  });

  it('turns READONLY into StoreUnavailableError', async () => {
    const store = new RedisStateStore({ redis: client, keyPrefix: 'ro:' });
    // A replica of a master that does not exist refuses writes with READONLY.
    await admin.call('REPLICAOF', '127.0.0.1', '1');
    try {
      await expectTyped(store.record('r', [FAIL], policy), /READONLY/);
    } finally {
      await admin.call('REPLICAOF', 'NO', 'ONE');
    }
    await store.close();
  });

  it('turns BUSY into StoreUnavailableError', async () => {
    const store = new RedisStateStore({ redis: client, keyPrefix: 'busy:', operationTimeoutMs: 2_000 });
    await admin.config('SET', 'busy-reply-threshold', '50');
    const blocker = new Redis(server.url, { lazyConnect: true });
    await blocker.connect();
    const busy = blocker.eval('local t = redis.call("TIME") while true do end', 0).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 150));
    try {
      await expectTyped(store.record('b', [FAIL], policy), /BUSY/);
    } finally {
      await admin.call('SCRIPT', 'KILL').catch(() => undefined);
      await busy;
      blocker.disconnect();
      await admin.config('SET', 'busy-reply-threshold', '5000');
    }
    await store.close();
  });

  it('treats a foreign string under the prefix as absent instead of failing with WRONGTYPE', async () => {
    // Scripts check the key's type before touching it, so WRONGTYPE never reaches a caller.
    const store = new RedisStateStore({ redis: client, keyPrefix: 'wt:' });
    await admin.set('wt:w', 'plain string');
    expect(await store.getState('w')).toBeUndefined();
    expect((await store.record('w', [FAIL], policy)).failureCount).toBe(1);
    await store.close();
  });
});

describe('RedisStateStore on a server that answers LOADING', () => {
  let fake: Server;
  let port: number;

  beforeAll(async () => {
    // Redis answers LOADING while it reads its dataset at start; a few lines of RESP stand in for it.
    fake = createServer((socket) => {
      socket.on('data', (data) => {
        // One reply per command of the (pipelined) RESP arrays received: ioredis 6 opens with HELLO 3
        // and CLIENT SETINFO, answered as a Redis 6 would; everything else gets LOADING.
        const lines = data.toString().split('\r\n');
        for (let i = 0; i < lines.length; i++) {
          if (!lines[i]?.startsWith('*')) continue;
          const command = (lines[i + 2] ?? '').toLowerCase();
          if (command === 'hello') socket.write("-ERR unknown command 'hello'\r\n");
          else if (command === 'client') socket.write('+OK\r\n');
          else socket.write('-LOADING Redis is loading the dataset in memory\r\n');
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    port = (fake.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => fake.close(resolve));
  });

  it('turns LOADING into StoreUnavailableError', async () => {
    const client = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
    });
    await client.connect();
    const store = new RedisStateStore({ redis: client, keyPrefix: 'loading:' });
    const error = await store.record('l', [FAIL], policy).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(/LOADING/);
    const read = await store.getState('l').catch((e: unknown) => e);
    expect(read).toBeInstanceOf(StoreUnavailableError);
    await store.close();
    client.disconnect();
  });
});

it('exports the initial state helper used above', () => {
  expect(createInitialState(1).state).toBe('closed');
});

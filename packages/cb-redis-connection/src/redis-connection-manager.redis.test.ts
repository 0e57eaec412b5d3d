import { captureMicrotaskErrors } from '@xnai/kit/testing';
import { type FaultProxy, type RedisServer, startFaultProxy, startRedis, waitFor } from '@xnai/test-utils';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisAuthenticationError } from './errors/redis-authentication-error.js';
import { RedisCommandError } from './errors/redis-command-error.js';
import { RedisTimeoutError } from './errors/redis-timeout-error.js';
import { RedisUnavailableError } from './errors/redis-unavailable-error.js';
import type { AuthenticationFailedEvent, FallbackEnteredEvent, RecoveredEvent } from './events.js';
import { RedisConnectionManager } from './redis-connection-manager.js';

const OPERATION_TIMEOUT_MS = 250;
/**
 * Slack on top of the operation timeout for any single command or detection, for a loaded 2-core
 * machine: a timer that fires late by L is given one more look after L (it may be a stalled loop,
 * not a slow Redis), so a wait can exceed the timeout by twice the scheduling lateness.
 */
const COMMAND_WAIT_SLACK_MS = 100;

const managers: RedisConnectionManager[] = [];
function manage(manager: RedisConnectionManager): RedisConnectionManager {
  managers.push(manager);
  return manager;
}
afterEach(async () => {
  await Promise.all(managers.splice(0).map((manager) => manager.disconnect()));
});

/** Observes mode switches with their times. */
function watch(manager: RedisConnectionManager) {
  const entered: FallbackEnteredEvent[] = [];
  const recovered: RecoveredEvent[] = [];
  manager.onFallbackEntered((event) => entered.push(event));
  manager.onRecovered((event) => recovered.push(event));
  return { entered, recovered };
}

/**
 * Steady command load: `workers` loops, each running INCR then pausing `gapMs`. Records how long every
 * call waited, and when, so tests can bound waits around a fault.
 */
function startLoad(manager: RedisConnectionManager, workers = 8, gapMs = 2) {
  const waits: { start: number; waitMs: number; outcome: string }[] = [];
  let running = true;
  const loop = async () => {
    while (running) {
      const start = performance.now();
      let outcome = 'ok';
      try {
        await manager.execute((client) => client.incr('load'));
      } catch (error) {
        outcome = (error as Error).name;
      }
      waits.push({ start, waitMs: performance.now() - start, outcome });
      await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
  };
  const loops = Array.from({ length: workers }, loop);
  return {
    waits,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
    longestWaitSince(since: number): number {
      return Math.max(
        0,
        ...waits.filter((entry) => entry.start + entry.waitMs >= since).map((entry) => entry.waitMs),
      );
    },
  };
}

function epochFromPerformance(at: number): number {
  return at - performance.timeOrigin;
}

function report(label: string, values: Record<string, number>): void {
  const text = Object.entries(values)
    .map(([key, value]) => `${key}=${value.toFixed(1)}ms`)
    .join(' ');
  console.info(`[figures] ${label}: ${text}`);
}

describe('RedisConnectionManager against real Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ controllable: true });
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('connects, runs commands, reports health and disconnects', async () => {
    const manager = manage(new RedisConnectionManager({ url: redis.url }));
    expect(await manager.connect()).toBe(true);
    expect(manager.isConnected).toBe(true);
    expect(manager.fallbackMode).toBe(false);
    await manager.execute((client) => client.set('greeting', 'hello'));
    expect(await manager.execute((client) => client.get('greeting'))).toBe('hello');
    const status = await manager.getHealthStatus();
    expect(status).toMatchObject({
      connected: true,
      fallbackMode: false,
      host: redis.host,
      port: redis.port,
      db: 0,
      maxConnections: 50,
      poolSize: 1,
      connectionTimeoutMs: 5000,
      socketTimeoutMs: 10000,
      operationTimeoutMs: OPERATION_TIMEOUT_MS,
      consecutiveFailures: 0,
      lastError: null,
      authenticationFailed: false,
      idleConnectionTimeoutMs: 30000,
    });
    expect(status.latencySamples).toBe(2);
    expect(status.latencyP50Ms).toBeGreaterThan(0);
    await manager.disconnect();
    await manager.disconnect();
    expect(manager.isConnected).toBe(false);
    // As the seed's test expects: after disconnect() callers are on their fallback.
    expect(manager.fallbackMode).toBe(true);
    expect(manager.mode).toBe('closed');
    expect(await manager.getHealthStatus()).toMatchObject({
      connected: false,
      fallbackMode: true,
      mode: 'closed',
    });
    await expect(manager.execute((client) => client.get('greeting'))).rejects.toMatchObject({
      name: 'RedisUnavailableError',
      reason: 'closed',
    });
  });

  it('works with await using and a db from the URL', async () => {
    {
      await using manager = new RedisConnectionManager({ url: `${redis.url}/3` });
      await manager.connect();
      await manager.execute((client) => client.set('in-db-3', '1'));
      expect((await manager.getHealthStatus()).db).toBe(3);
    }
    await using other = new RedisConnectionManager({ host: redis.host, port: redis.port, db: 0 });
    await other.connect();
    expect(await other.execute((client) => client.get('in-db-3'))).toBeNull();
  });

  it('turns reply errors into RedisCommandError without entering fallback', async () => {
    const manager = manage(new RedisConnectionManager({ url: redis.url }));
    await manager.connect();
    await manager.execute((client) => client.set('a-string', 'x'));
    const error = await manager.execute((client) => client.lpush('a-string', 'y')).catch((caught) => caught);
    expect(RedisCommandError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ code: 'ERR_REDIS_COMMAND', replyCode: 'WRONGTYPE' });
    const noScript = await manager
      .execute((client) => client.evalsha('0'.repeat(40), 0))
      .catch((caught) => caught);
    expect(noScript).toMatchObject({ name: 'RedisCommandError', replyCode: 'NOSCRIPT' });
    expect(manager.fallbackMode).toBe(false);
  });

  it('passes errors of the caller’s own code through unchanged', async () => {
    const manager = manage(new RedisConnectionManager({ url: redis.url }));
    await manager.connect();
    const own = new SyntaxError('bad JSON');
    await expect(
      manager.execute(async () => {
        throw own;
      }),
    ).rejects.toBe(own);
    expect(manager.fallbackMode).toBe(false);
  });

  it('times out a slow command with RedisTimeoutError and enters fallback (DEBUG SLEEP)', async () => {
    const manager = manage(new RedisConnectionManager({ url: redis.url, fallbackProbeIntervalMs: 50 }));
    const { entered, recovered } = watch(manager);
    await manager.connect();
    const started = performance.now();
    const error = await manager
      .execute((client) => client.call('DEBUG', 'SLEEP', '0.6'))
      .catch((caught) => caught);
    const waited = performance.now() - started;
    expect(RedisTimeoutError.isInstance(error)).toBe(true);
    expect(waited).toBeLessThanOrEqual(OPERATION_TIMEOUT_MS + COMMAND_WAIT_SLACK_MS);
    expect(entered.map((event) => event.reason)).toEqual(['timeout']);
    // no network in fallback: rejected at once
    await expect(manager.execute((client) => client.ping())).rejects.toMatchObject({ reason: 'fallback' });
    await waitFor(() => recovered.length === 1, { timeoutMs: 3000 });
    expect(manager.isConnected).toBe(true);
  });

  it('delivers pub/sub messages and resubscribes after Redis restarts', async () => {
    const manager = manage(new RedisConnectionManager({ url: redis.url }));
    await manager.connect();
    const received: string[] = [];
    let reconnects = 0;
    manager.onReconnected(() => {
      reconnects += 1;
    });
    const subscription = manager.subscribe('events', (message) => received.push(message));
    await waitFor(async () => (await manager.getHealthStatus()).subscriber.connected);
    await waitFor(async () => (await manager.execute((client) => client.publish('events', 'one'))) === 1);
    await waitFor(() => received.includes('one'));

    await redis.kill();
    await redis.restart();
    await waitFor(() => reconnects === 1, { timeoutMs: 5000 });
    await waitFor(() => manager.isConnected, { timeoutMs: 5000 });
    await manager.execute((client) => client.publish('events', 'two'));
    await waitFor(() => received.includes('two'));

    subscription[Symbol.dispose]();
    await waitFor(async () => (await manager.execute((client) => client.publish('events', 'three'))) === 0);
    expect(received).not.toContain('three');
  });

  it('a throwing message listener stops neither the other listeners nor the subscriber: its error is rethrown in a microtask, not reported by onError', async () => {
    const manager = manage(new RedisConnectionManager({ url: redis.url }));
    await manager.connect();
    const reported: string[] = [];
    manager.onError(({ error }) => reported.push(error.message));
    const bug = new Error('listener bug');
    const received: string[] = [];
    manager.subscribe('buggy', () => {
      throw bug;
    });
    manager.subscribe('buggy', (message) => received.push(message));
    await waitFor(async () => (await manager.getHealthStatus()).subscriber.connected);
    const rethrown = await captureMicrotaskErrors(async () => {
      await waitFor(async () => (await manager.execute((client) => client.publish('buggy', 'one'))) === 1);
      await waitFor(() => received.includes('one'));
      await manager.execute((client) => client.publish('buggy', 'two'));
      await waitFor(() => received.includes('two'));
    });
    expect(rethrown.length).toBeGreaterThanOrEqual(2);
    expect(rethrown.every((error) => error === bug)).toBe(true);
    expect(reported).toEqual([]);
    expect(manager.isConnected).toBe(true);
  });

  it('grows the pool under concurrent load, up to maxConnections', async () => {
    const manager = manage(new RedisConnectionManager({ url: redis.url, maxConnections: 3 }));
    await manager.connect();
    for (let round = 0; round < 20; round += 1) {
      await Promise.all(Array.from({ length: 10 }, () => manager.execute((client) => client.incr('pool'))));
    }
    const { poolSize } = await manager.getHealthStatus();
    expect(poolSize).toBeGreaterThan(1);
    expect(poolSize).toBeLessThanOrEqual(3);
  });
});

describe('credentials and configuration', () => {
  const password = 'correct-horse-7431';
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ password });
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('connects with the right password', async () => {
    const manager = manage(new RedisConnectionManager({ host: redis.host, port: redis.port, password }));
    expect(await manager.connect()).toBe(true);
    expect(await manager.execute((client) => client.ping())).toBe('PONG');
    expect(JSON.stringify(await manager.getHealthStatus())).not.toContain(password);
  });

  it('fails with a clear authentication error that carries no secret', async () => {
    const wrong = 'wrong-secret-9921';
    const manager = manage(
      new RedisConnectionManager({ url: `redis://someone:${wrong}@${redis.host}:${redis.port}` }),
    );
    const errors: string[] = [];
    manager.onError((event) => errors.push(`${event.error.message} ${String(event.error.cause ?? '')}`));
    const started = performance.now();
    const error = await manager.connect().catch((caught) => caught);
    expect(performance.now() - started).toBeLessThan(1000); // no retries for a wrong password
    expect(RedisAuthenticationError.isInstance(error)).toBe(true);
    expect(error.code).toBe('ERR_REDIS_AUTHENTICATION');
    expect(error.message).toMatch(/rejected the credentials/);
    const everything = [
      error.message,
      String(error.stack),
      String(error.cause ?? ''),
      JSON.stringify(await manager.getHealthStatus()),
      ...errors,
    ].join('\n');
    expect(everything).not.toContain(wrong);
    expect(everything).not.toContain('someone');
  });

  it('a wrong password: typed error and event, fallback status, retries until the server accepts it', async () => {
    const serverPassword = 'old-secret-5521';
    const clientPassword = 'new-secret-8830';
    await using server = await startRedis({ password: serverPassword });
    const admin = new Redis(server.url, { lazyConnect: true });
    await admin.connect();
    try {
      const manager = manage(
        new RedisConnectionManager({ host: server.host, port: server.port, password: clientPassword }),
      );
      const { entered, recovered } = watch(manager);
      const failed: AuthenticationFailedEvent[] = [];
      manager.onAuthenticationFailed((event) => failed.push(event));
      const error = await manager.connect().catch((caught) => caught);
      expect(RedisAuthenticationError.isInstance(error)).toBe(true);
      expect(failed.map((event) => event.error.code)).toEqual(['ERR_REDIS_AUTHENTICATION']);
      expect(entered.map((event) => event.reason)).toEqual(['authentication_failed']);
      const status = await manager.getHealthStatus();
      expect(status).toMatchObject({
        connected: false,
        fallbackMode: true,
        mode: 'fallback',
        authenticationFailed: true,
        lastError: { code: 'ERR_REDIS_AUTHENTICATION' },
      });
      // connect() keeps telling callers why, while the manager retries in the background.
      await expect(manager.connect()).rejects.toMatchObject({ code: 'ERR_REDIS_AUTHENTICATION' });

      // The operator fixes it on the server; no restart of the client.
      await admin.call('CONFIG', 'SET', 'requirepass', clientPassword);
      const fixedAt = performance.now();
      await waitFor(() => manager.isConnected, { timeoutMs: 5_000, message: 'connected after the fix' });
      console.info(
        `[figures] wrong password: connected ${(performance.now() - fixedAt).toFixed(0)} ms after CONFIG SET requirepass`,
      );
      expect(await manager.execute((client) => client.ping())).toBe('PONG');
      expect(recovered).toHaveLength(1);
      expect(await manager.getHealthStatus()).toMatchObject({
        authenticationFailed: false,
        fallbackMode: false,
      });
      expect(await manager.connect()).toBe(true);
      const everything = JSON.stringify([failed, entered, await manager.getHealthStatus(), String(error)]);
      expect(everything).not.toContain(clientPassword);
      expect(everything).not.toContain(serverPassword);
    } finally {
      admin.disconnect();
    }
  });

  it('rejects an invalid URL or option at construction, naming it', () => {
    expect(() => new RedisConnectionManager({ url: 'http://localhost:6379' })).toThrow(
      /^url must be a redis:\/\/ or rediss:\/\/ URL/,
    );
    expect(() => new RedisConnectionManager({ url: 'redis://:hunter2@localhost:6379/x' })).toThrow(TypeError);
    try {
      new RedisConnectionManager({ url: 'redis://:hunter2@localhost:6379/x' });
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
    }
    expect(() => new RedisConnectionManager({ maxConnections: 0 })).toThrow(
      new RangeError('maxConnections must be a positive integer, got 0'),
    );
  });
});

describe('Redis down at start', () => {
  it('says fallback from the first failed attempt, and connects on a later attempt once Redis starts', async () => {
    const redis = await startRedis({ controllable: true });
    try {
      await redis.kill();
      const manager = manage(new RedisConnectionManager({ url: redis.url }));
      const { entered } = watch(manager);
      const connecting = manager.connect();
      // The first attempt is refused at once; the next one comes after 1 s (the schedule itself is
      // tested on fake timers in redis-connection-manager.test.ts).
      await waitFor(async () => (await manager.getHealthStatus()).lastError !== null, { timeoutMs: 900 });
      expect(manager.mode).toBe('connecting');
      expect(manager.fallbackMode).toBe(true);
      const status = await manager.getHealthStatus();
      expect(status).toMatchObject({ connected: false, fallbackMode: true, mode: 'connecting' });
      expect(status.lastError?.code).toBe('ERR_REDIS_UNAVAILABLE');
      await expect(manager.execute((client) => client.ping())).rejects.toBeInstanceOf(RedisUnavailableError);

      await redis.restart();
      expect(await connecting).toBe(true);
      expect(entered).toEqual([]);
      expect(manager.fallbackMode).toBe(false);
      expect(await manager.execute((client) => client.ping())).toBe('PONG');
    } finally {
      await redis.stop();
    }
  });
});

describe('faults under a steady command load', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ controllable: true });
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('Redis killed: fallback within one operation timeout, bounded waits, recovery within 1 s of restart', async () => {
    const manager = manage(new RedisConnectionManager({ url: redis.url }));
    const { entered, recovered } = watch(manager);
    await manager.connect();
    const load = startLoad(manager);
    await waitFor(() => load.waits.length > 200);

    const killedAt = performance.now();
    await redis.kill();
    await waitFor(() => entered.length === 1, { timeoutMs: 2000 });
    const detectionMs = epochFromPerformance(entered[0]?.at ?? 0) - killedAt;
    await new Promise((resolve) => setTimeout(resolve, 500));
    await redis.restart();
    const restartedAt = performance.now();
    await waitFor(() => recovered.length === 1, { timeoutMs: 5000 });
    const recoveryMs = epochFromPerformance(recovered[0]?.at ?? 0) - restartedAt;
    await waitFor(
      () => load.waits.filter((entry) => entry.start > restartedAt && entry.outcome === 'ok').length > 10,
    );
    await load.stop();
    const longestWaitMs = load.longestWaitSince(killedAt);
    report('kill', {
      detection: detectionMs,
      longestCommandWait: longestWaitMs,
      recoveryAfterRestart: recoveryMs,
    });

    expect(entered[0]?.reason).toBe('connection_lost');
    expect(detectionMs).toBeLessThanOrEqual(OPERATION_TIMEOUT_MS);
    expect(longestWaitMs).toBeLessThanOrEqual(OPERATION_TIMEOUT_MS + COMMAND_WAIT_SLACK_MS);
    expect(recoveryMs).toBeLessThanOrEqual(1000);
  });

  it('Redis frozen with SIGSTOP: detected through timeouts with the same bounds', async () => {
    const manager = manage(new RedisConnectionManager({ url: redis.url }));
    const { entered, recovered } = watch(manager);
    await manager.connect();
    const load = startLoad(manager);
    await waitFor(() => load.waits.length > 200);

    const pausedAt = performance.now();
    await redis.pause();
    try {
      await waitFor(() => entered.length === 1, { timeoutMs: 2000 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(manager.fallbackMode).toBe(true);
    } finally {
      await redis.resume();
    }
    const resumedAt = performance.now();
    await waitFor(() => recovered.length === 1, { timeoutMs: 5000 });
    await load.stop();
    const detectionMs = epochFromPerformance(entered[0]?.at ?? 0) - pausedAt;
    const longestWaitMs = load.longestWaitSince(pausedAt);
    const recoveryMs = epochFromPerformance(recovered[0]?.at ?? 0) - resumedAt;
    report('SIGSTOP', {
      detection: detectionMs,
      longestCommandWait: longestWaitMs,
      recoveryAfterResume: recoveryMs,
    });

    expect(entered[0]?.reason).toBe('timeout');
    // A frozen server sends nothing: the first command that can notice it is one sent just before or after
    // the freeze, so detection is one operation timeout after that send.
    expect(detectionMs).toBeLessThanOrEqual(OPERATION_TIMEOUT_MS + COMMAND_WAIT_SLACK_MS);
    expect(longestWaitMs).toBeLessThanOrEqual(OPERATION_TIMEOUT_MS + COMMAND_WAIT_SLACK_MS);
  });

  describe('through the fault proxy', () => {
    let proxy: FaultProxy;
    beforeAll(async () => {
      proxy = await startFaultProxy({ target: redis });
    });
    afterAll(async () => {
      await proxy?.close();
    });
    afterEach(() => {
      proxy.setMode('pass');
    });

    it('traffic blackholed: detected through timeouts with the same bounds', async () => {
      const manager = manage(new RedisConnectionManager({ url: proxy.url }));
      const { entered, recovered } = watch(manager);
      await manager.connect();
      const load = startLoad(manager);
      await waitFor(() => load.waits.length > 200);

      const blackholedAt = performance.now();
      proxy.setMode('blackhole');
      await waitFor(() => entered.length === 1, { timeoutMs: 2000 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(manager.fallbackMode).toBe(true);
      proxy.setMode('pass');
      const healedAt = performance.now();
      await waitFor(() => recovered.length === 1, { timeoutMs: 5000 });
      await load.stop();
      const detectionMs = epochFromPerformance(entered[0]?.at ?? 0) - blackholedAt;
      const longestWaitMs = load.longestWaitSince(blackholedAt);
      const recoveryMs = epochFromPerformance(recovered[0]?.at ?? 0) - healedAt;
      report('blackhole', {
        detection: detectionMs,
        longestCommandWait: longestWaitMs,
        recoveryAfterHeal: recoveryMs,
      });

      expect(entered[0]?.reason).toBe('timeout');
      expect(detectionMs).toBeLessThanOrEqual(OPERATION_TIMEOUT_MS + COMMAND_WAIT_SLACK_MS);
      expect(longestWaitMs).toBeLessThanOrEqual(OPERATION_TIMEOUT_MS + COMMAND_WAIT_SLACK_MS);
    });

    it('latency at half the operation timeout: no switch to fallback', async () => {
      const manager = manage(new RedisConnectionManager({ url: proxy.url }));
      const { entered } = watch(manager);
      await manager.connect();
      proxy.setMode({ type: 'latency', latencyMs: OPERATION_TIMEOUT_MS / 2 });
      const load = startLoad(manager, 4);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await load.stop();
      const slow = load.waits.filter((entry) => entry.waitMs >= OPERATION_TIMEOUT_MS / 2);
      expect(slow.length).toBeGreaterThan(10); // the latency was really there
      expect(load.waits.every((entry) => entry.outcome === 'ok')).toBe(true);
      expect(entered).toEqual([]);
    });

    it('latency at 1.5x the operation timeout: fallback within 1 s, no flapping for 5 s', async () => {
      const manager = manage(new RedisConnectionManager({ url: proxy.url }));
      const { entered, recovered } = watch(manager);
      await manager.connect();
      const load = startLoad(manager, 4, 10);
      await waitFor(() => load.waits.length > 20);
      const injectedAt = performance.now();
      proxy.setMode({ type: 'latency', latencyMs: OPERATION_TIMEOUT_MS * 1.5 });
      await waitFor(() => entered.length === 1, { timeoutMs: 2000 });
      const detectionMs = epochFromPerformance(entered[0]?.at ?? 0) - injectedAt;
      await new Promise((resolve) => setTimeout(resolve, 5_000 - (performance.now() - injectedAt)));
      await load.stop();
      const switches = entered.length + recovered.length;
      report('latency 1.5x', { detection: detectionMs });
      console.info(`[figures] latency 1.5x: mode switches in 5 s = ${switches}`);
      expect(detectionMs).toBeLessThanOrEqual(1000);
      expect(switches).toBe(1);
      expect(load.longestWaitSince(injectedAt)).toBeLessThanOrEqual(
        OPERATION_TIMEOUT_MS + COMMAND_WAIT_SLACK_MS,
      );
    });
  });
});

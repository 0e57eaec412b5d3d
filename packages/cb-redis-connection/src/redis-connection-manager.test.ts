import type { TimerHandle } from '@xnai/kit';
import { captureMicrotaskErrors } from '@xnai/kit/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CREATE_CLIENT } from './client-factory.js';
import type {
  AuthenticationFailedEvent,
  ConnectionErrorEvent,
  FallbackEnteredEvent,
  RecoveredEvent,
} from './events.js';
import type { RedisConnectionOptions } from './options.js';
import { RedisConnectionManager } from './redis-connection-manager.js';
import { FakeRedisServer } from './testing/fake-redis.js';

// The manager's rules on fake time: a scripted client (src/testing/fake-redis.ts) instead of ioredis
// and a socket, vitest's fake timers behind the injected clock. Real faults (kill, pause,
// blackhole, reset) are tested against real Redis in the *.redis.test.ts files.

function setup(options: RedisConnectionOptions = {}) {
  const server = new FakeRedisServer();
  const manager = new RedisConnectionManager({
    clock: {
      now: () => Date.now(),
      setTimeout: (callback: () => void, delayMs: number) => setTimeout(callback, delayMs),
      clearTimeout: (handle: TimerHandle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    },
    ...options,
    [CREATE_CLIENT]: server.createClient,
  } as RedisConnectionOptions);
  const entered: FallbackEnteredEvent[] = [];
  const recovered: RecoveredEvent[] = [];
  const authenticationFailed: AuthenticationFailedEvent[] = [];
  manager.onFallbackEntered((event) => entered.push(event));
  manager.onRecovered((event) => recovered.push(event));
  manager.onAuthenticationFailed((event) => authenticationFailed.push(event));
  return { server, manager, entered, recovered, authenticationFailed };
}

/** Advances fake time by `ms`, running timers, immediates and the microtasks between them. */
const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);

/** Advances fake time to the absolute time `at` (ms since the test began). */
const advanceTo = (at: number) => vi.advanceTimersByTimeAsync(at - Date.now());

async function connected(options: RedisConnectionOptions = {}) {
  const context = setup(options);
  const connecting = context.manager.connect();
  await advance(0);
  expect(await connecting).toBe(true);
  return context;
}

/** The health probes (`SET <key> 1 PX <ttl>`) the fake server has seen. */
function probes(server: FakeRedisServer) {
  return server.commands.filter((command) => command.name === 'set' && command.args[2] === 'PX');
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
  // No jitter: backoff delays come out exact.
  vi.spyOn(Math, 'random').mockReturnValue(0);
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('connect() attempts', () => {
  it('tries at 0 s, 1 s and 2 s later, then enters fallback and reconnects in the background', async () => {
    const { server, manager, entered } = setup();
    server.setState('down');
    let settled: boolean | undefined;
    manager.connect().then((result) => {
      settled = result;
    });
    await advance(0);
    expect(server.connectAttempts).toEqual([0]);
    // Callers must not read "all is well" while the attempts run.
    expect(manager.mode).toBe('connecting');
    expect(manager.fallbackMode).toBe(true);
    await advanceTo(999);
    expect(server.connectAttempts).toEqual([0]);
    await advanceTo(1_000);
    expect(server.connectAttempts).toEqual([0, 1_000]);
    await advanceTo(2_999);
    expect(settled).toBeUndefined();
    await advanceTo(3_000);
    expect(server.connectAttempts.slice(0, 3)).toEqual([0, 1_000, 3_000]);
    expect(settled).toBe(false);
    expect(entered.map(({ reason, at }) => ({ reason, at }))).toEqual([
      { reason: 'connect_failed', at: 3_000 },
    ]);
    // In the background: at once, then every reconnectMaxDelayMs (250 ms): ioredis counts the
    // three attempts, so its backoff is already at the cap.
    await advanceTo(4_000);
    expect(server.connectAttempts.slice(3)).toEqual([3_000, 3_250, 3_500, 3_750, 4_000]);
    await manager.disconnect();
  });

  it('bounds each attempt by the adaptive connection timeout: 5 000, 7 500, 11 250 ms', async () => {
    const { server, manager, entered } = setup();
    server.setState('frozen');
    const connecting = manager.connect();
    await advanceTo(4_999);
    expect((await manager.getHealthStatus()).connectionTimeoutMs).toBe(5_000);
    await advanceTo(5_000);
    expect((await manager.getHealthStatus()).connectionTimeoutMs).toBe(7_500);
    await advanceTo(26_750);
    // 0 + 5 000 + 1 000 wait; 6 000 + 7 500 + 2 000 wait; 15 500 + 11 250.
    expect(server.connectAttempts.slice(0, 3)).toEqual([0, 6_000, 15_500]);
    expect(await connecting).toBe(false);
    expect(entered[0]).toMatchObject({ reason: 'connect_failed', at: 26_750 });
    await manager.disconnect();
  });

  it('grows the connection timeout ×1.5 per consecutive failure up to 30 000 ms, and one success restores 5 000', async () => {
    const { server, manager } = setup();
    server.setState('frozen');
    void manager.connect();
    const seen: number[] = [];
    // Every change over 5 minutes of failing attempts: connect()'s three, then background reconnects.
    while (Date.now() < 300_000) {
      await advance(100);
      const { connectionTimeoutMs } = await manager.getHealthStatus();
      if (connectionTimeoutMs !== seen.at(-1)) seen.push(connectionTimeoutMs);
    }
    expect(seen).toEqual([5_000, 7_500, 11_250, 16_875, 25_313, 30_000]);
    server.setState('up');
    await advance(100);
    expect((await manager.getHealthStatus()).connectionTimeoutMs).toBe(5_000);
    await manager.disconnect();
  });
});

describe('fallback on the first evidence', () => {
  it('a command without a reply within the operation timeout: RedisTimeoutError, fallback at once', async () => {
    const { server, manager, entered } = await connected();
    server.setState('frozen');
    const started = Date.now();
    const call = manager.execute((client) => client.get('k')).catch((error: unknown) => error);
    await advance(249);
    expect(entered).toEqual([]);
    // The timer fires at 250 ms; the verdict waits for one turn of the event loop (an immediate,
    // which the fake clock runs 1 ms later).
    await advance(2);
    expect(await call).toMatchObject({ name: 'RedisTimeoutError', timeoutMs: 250 });
    expect(entered).toEqual([expect.objectContaining({ reason: 'timeout' })]);
    expect((entered[0]?.at ?? 0) - started).toBeGreaterThanOrEqual(250);
    expect((entered[0]?.at ?? 0) - started).toBeLessThanOrEqual(251);
    // In fallback mode, no network: rejected at once.
    await expect(manager.execute((client) => client.get('k'))).rejects.toMatchObject({ reason: 'fallback' });
    await manager.disconnect();
  });

  it('a connection that breaks: fallback at once, reconnects after 50, 100, 200, 250 ms …', async () => {
    const { server, manager, entered } = await connected();
    await advanceTo(1_000);
    server.setState('down');
    server.dropConnections();
    expect(entered).toEqual([expect.objectContaining({ reason: 'connection_lost', at: 1_000 })]);
    expect(manager.fallbackMode).toBe(true);
    await advanceTo(2_000);
    expect(server.connectAttempts.slice(1)).toEqual([1_050, 1_150, 1_350, 1_600, 1_850]);
    await manager.disconnect();
  });

  it('an error reply is not evidence; READONLY is', async () => {
    const { server, manager, entered } = await connected();
    server.replyErrorOnce('get', 'WRONGTYPE Operation against a key holding the wrong kind of value');
    await expect(manager.execute((client) => client.get('k'))).rejects.toMatchObject({
      replyCode: 'WRONGTYPE',
    });
    expect(entered).toEqual([]);
    server.replyErrorOnce('set', "READONLY You can't write against a read only replica.");
    await expect(manager.execute((client) => client.set('k', 'v'))).rejects.toMatchObject({
      reason: 'server_unusable',
    });
    expect(entered.map((event) => event.reason)).toEqual(['server_unusable']);
    await manager.disconnect();
  });
});

describe('listeners', () => {
  it('a throwing listener stops neither the manager nor the other listeners: its error is rethrown in a microtask, and onError keeps reporting Redis only', async () => {
    const { server, manager, entered, recovered } = await connected();
    const reported: ConnectionErrorEvent[] = [];
    manager.onError((event) => reported.push(event));
    const bug = new Error('listener bug');
    for (const on of ['onFallbackEntered', 'onRecovered', 'onError'] as const) {
      manager[on](() => {
        throw bug;
      });
    }
    const after: string[] = [];
    manager.onFallbackEntered((event) => after.push(event.reason));
    const rethrown = await captureMicrotaskErrors(async () => {
      await advanceTo(1_000);
      server.setState('frozen');
      void manager.execute((client) => client.get('k')).catch(() => undefined);
      await advance(251);
      server.setState('up');
      await advance(300);
    });
    // The listeners added before and after the throwing one heard of fallback and of recovery.
    expect(entered.map((event) => event.reason)).toEqual(['timeout']);
    expect(after).toEqual(['timeout']);
    expect(recovered).toHaveLength(1);
    expect(manager.isConnected).toBe(true);
    // One rethrow per event the throwing listeners got; none of them became an onError event.
    expect(rethrown.length).toBeGreaterThanOrEqual(2);
    expect(rethrown.every((error) => error === bug)).toBe(true);
    expect(reported.map((event) => event.error.message)).not.toContain('listener bug');
    await manager.disconnect();
  });
});

describe('leaving fallback (hysteresis)', () => {
  async function inFallback() {
    const context = await connected();
    context.server.setState('frozen');
    void context.manager.execute((client) => client.get('k')).catch(() => undefined);
    await advance(251);
    expect(context.manager.mode).toBe('fallback');
    return { ...context, enteredAt: Date.now() };
  }

  it('takes 3 consecutive healthy probes, one every 100 ms', async () => {
    const { server, manager, recovered, enteredAt } = await inFallback();
    server.setState('up');
    await advance(299);
    expect(recovered).toEqual([]);
    expect(probes(server).map((probe) => probe.at - enteredAt)).toEqual([100, 200]);
    await advance(1);
    expect(probes(server).map((probe) => probe.at - enteredAt)).toEqual([100, 200, 300]);
    expect(recovered).toEqual([{ fallbackDurationMs: 300, at: enteredAt + 300 }]);
    expect(manager.isConnected).toBe(true);
    await manager.disconnect();
  });

  it('starts counting again after a failed probe', async () => {
    const { server, manager, recovered, enteredAt } = await inFallback();
    server.setState('up');
    await advance(100); // probe 1 passes
    server.replyErrorOnce('set', "READONLY You can't write against a read only replica.");
    await advance(100); // probe 2 fails
    await advance(299);
    expect(recovered).toEqual([]);
    await advance(1); // probes 3, 4, 5 pass
    expect(recovered).toEqual([expect.objectContaining({ at: enteredAt + 500 })]);
    await manager.disconnect();
  });

  it('stays in fallback while probes time out (every probe is a write: SET PX on a key of its own)', async () => {
    const { server, manager, recovered } = await inFallback();
    server.setState('up');
    server.pauseWrites(true); // reads pass, writes hang: a PING would pass
    await advance(5_000);
    expect(recovered).toEqual([]);
    expect(manager.mode).toBe('fallback');
    const [probe] = probes(server);
    expect(probe?.args[0]).toMatch(/^xnai-cb:health:[0-9a-f-]{36}$/);
    expect(probe?.args.slice(1)).toEqual(['1', 'PX', 5_000]);
    server.pauseWrites(false);
    await advance(2_000);
    expect(recovered).toHaveLength(1);
    await manager.disconnect();
  });

  it('probes every healthCheckIntervalMs (30 s) while connected', async () => {
    const { server, manager } = await connected();
    await advanceTo(90_000);
    expect(probes(server).map((probe) => probe.at)).toEqual([30_000, 60_000, 90_000]);
    await manager.disconnect();
  });
});

describe('a wrong password', () => {
  it('rejects connect(), signals once, and retries 1 s, 2 s, 4 s … up to 30 s until the server accepts it', async () => {
    const { server, manager, entered, recovered, authenticationFailed } = setup({ password: 'new-password' });
    server.password = 'old-password';
    const connecting = manager.connect().catch((error: unknown) => error);
    await advance(0);
    expect(await connecting).toMatchObject({
      name: 'RedisAuthenticationError',
      code: 'ERR_REDIS_AUTHENTICATION',
    });
    expect(authenticationFailed).toHaveLength(1);
    expect(entered.map((event) => event.reason)).toEqual(['authentication_failed']);
    expect(await manager.getHealthStatus()).toMatchObject({
      mode: 'fallback',
      fallbackMode: true,
      authenticationFailed: true,
      lastError: { code: 'ERR_REDIS_AUTHENTICATION' },
    });
    await advanceTo(200_000);
    const gaps = server.connectAttempts.map((at, index, all) => at - (all[index - 1] ?? 0));
    expect(gaps.slice(0, 10)).toEqual([
      0, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000,
    ]);
    await expect(manager.connect()).rejects.toMatchObject({ name: 'RedisAuthenticationError' });
    expect(authenticationFailed).toHaveLength(1); // once per episode, not per attempt

    server.password = 'new-password';
    const next = (server.connectAttempts.at(-1) ?? 0) + 30_000;
    await advanceTo(next + 300);
    expect(recovered).toHaveLength(1);
    expect(manager.isConnected).toBe(true);
    expect(await manager.getHealthStatus()).toMatchObject({
      authenticationFailed: false,
      fallbackMode: false,
    });
    expect(await manager.connect()).toBe(true);
    await manager.disconnect();
  });
});

describe('status', () => {
  it('fallbackMode: false before connect() and during a first attempt, true after disconnect()', async () => {
    const { manager } = setup();
    expect(manager.fallbackMode).toBe(false);
    const connecting = manager.connect();
    expect(manager.mode).toBe('connecting');
    expect(manager.fallbackMode).toBe(false); // nothing has failed yet
    await advance(0);
    expect(await connecting).toBe(true);
    expect(await manager.getHealthStatus()).toMatchObject({ connected: true, fallbackMode: false });
    await manager.disconnect();
    expect(manager.mode).toBe('closed');
    expect(manager.fallbackMode).toBe(true);
    expect(await manager.getHealthStatus()).toMatchObject({
      connected: false,
      fallbackMode: true,
      mode: 'closed',
    });
  });
});

describe('pool', () => {
  it('grows one connection at a time on real concurrency, never while a connection reconnects', async () => {
    const { server, manager } = await connected();
    server.latencyMs = 10;
    const burst = (count: number) =>
      Promise.all(Array.from({ length: count }, () => manager.execute((client) => client.incr('n'))));
    let done = burst(2);
    await advance(10);
    await done;
    expect((await manager.getHealthStatus()).poolSize).toBe(2); // the second call found the first busy
    done = burst(3);
    await advance(10);
    await done;
    expect((await manager.getHealthStatus()).poolSize).toBe(3);
    // A fault: every connection drops, and all but one take long to come back. The manager
    // recovers on the first; the load that follows finds it busy, yet opens nothing beside the
    // connections that are still reconnecting.
    server.dropConnections();
    for (const client of server.clients.slice(1)) client.refuseAttempts = 8;
    await advance(1_000);
    expect(manager.isConnected).toBe(true);
    for (let round = 0; round < 5; round += 1) {
      done = burst(3);
      await advance(10);
      await done;
    }
    await advance(2_000);
    expect((await manager.getHealthStatus()).poolSize).toBe(3);
    await manager.disconnect();
  });

  it('closes connections beyond the first after idleConnectionTimeoutMs (default 30 s) without a command', async () => {
    const { server, manager } = await connected();
    server.latencyMs = 10;
    const done = Promise.all(Array.from({ length: 3 }, () => manager.execute((client) => client.incr('n'))));
    await advance(10);
    await done;
    await advance(10);
    expect((await manager.getHealthStatus()).poolSize).toBeGreaterThan(1);
    const lastUse = Date.now();
    await advanceTo(lastUse + 29_000);
    expect((await manager.getHealthStatus()).poolSize).toBeGreaterThan(1);
    await advanceTo(lastUse + 30_000);
    expect((await manager.getHealthStatus()).poolSize).toBe(1);
    expect(server.openClients).toHaveLength(1);
    server.latencyMs = 0;
    expect(await manager.execute((client) => client.incr('n'))).toBeGreaterThan(0);
    await manager.disconnect();
  });
});

describe('the subscriber check', () => {
  it('reconnects a subscriber whose connection alone went silent, subscribes again and says so; one PING per check', async () => {
    const { server, manager } = await connected();
    const messages: string[] = [];
    manager.subscribe('events', (message) => messages.push(message));
    await advance(0);
    const reconnected: string[][] = [];
    manager.onReconnected((event) => reconnected.push([...event.channels]));
    expect(server.commands.some((command) => command.name === 'subscribe')).toBe(true);
    const pingsBefore = server.commands.filter((command) => command.name === 'ping').length;
    const answered = manager.checkSubscriber();
    await advance(0);
    expect(await answered).toBe(true);
    expect(server.commands.filter((command) => command.name === 'ping').length).toBe(pingsBefore + 1);

    // Only the subscriber's socket is cut: commands still work, the manager stays connected.
    const subscriberClient = server.clients.at(-1);
    if (subscriberClient === undefined) throw new Error('no subscriber client');
    subscriberClient.silent = true;
    let verdict: boolean | undefined;
    void manager.checkSubscriber().then((answer) => {
      verdict = answer;
    });
    await advance(249);
    expect(verdict).toBeUndefined();
    // No reply within the operation timeout (250 ms): reconnected, subscribed again, announced.
    await advance(300);
    expect(verdict).toBe(false);
    expect(reconnected).toEqual([['events']]);
    expect(manager.isConnected).toBe(true);
    const again = manager.checkSubscriber();
    await advance(0);
    expect(await again).toBe(true);
    await manager.disconnect();
    expect(await manager.checkSubscriber()).toBe(false);
  });
});

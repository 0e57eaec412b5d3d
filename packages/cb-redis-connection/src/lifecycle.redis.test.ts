import { type RedisServer, startFaultProxy, startRedis, waitFor } from '@xnai/test-utils';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisConnectionManager } from './redis-connection-manager.js';
import { startChild, writeChildScript } from './testing/child-process.js';

/** `CB_CHAOS=1` flaps for the full minute of ADVERSARY.md; the default run flaps long enough to show growth. */
const FLAP_DURATION_MS = process.env.CB_CHAOS === '1' ? 60_000 : 10_000;
const FLAP_PERIOD_MS = 300;
/** disconnect() during an outage: the bound, and the slack a loaded 2-core machine needs on top. */
const DISCONNECT_BOUND_MS = 100;
const DISCONNECT_LOAD_MARGIN_MS = 100;
/** A process whose manager disconnected exits by itself within this (it only has to unwind). */
const EXIT_BOUND_MS = 1_000;

/** Counts of active handle types (sockets, timers, child processes...). */
function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

function processListenerCounts(): Record<string, number> {
  return Object.fromEntries(process.eventNames().map((name) => [String(name), process.listenerCount(name)]));
}

function leaked(before: Map<string, number>, after: Map<string, number>): string[] {
  const extra: string[] = [];
  for (const [type, count] of after) {
    const base = before.get(type) ?? 0;
    if (count > base) extra.push(`${type} +${count - base}`);
  }
  return extra;
}

/** Connections Redis has open for clients named `name` (command pool) or `name:subscriber`. */
async function clientsNamed(admin: Redis, name: string): Promise<number> {
  const list = (await admin.call('CLIENT', 'LIST')) as string;
  return list.split('\n').filter((line) => new RegExp(`\\bname=${name}(:subscriber)?\\b`).test(line)).length;
}

describe('lifecycle', () => {
  let redis: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    redis = await startRedis({ controllable: true });
    admin = new Redis(redis.url, { lazyConnect: true });
    admin.on('error', () => {}); // it sees the kill too
    await admin.connect();
  });
  afterAll(async () => {
    admin?.disconnect();
    await redis?.stop();
  });

  it(
    `flapping (reset/pass every ${FLAP_PERIOD_MS} ms for ${FLAP_DURATION_MS / 1000} s) under load: the pool grows with concurrency only, shrinks when idle, and nothing is left behind`,
    async () => {
      const proxy = await startFaultProxy({ target: redis });
      // Let the harness's own sockets settle before taking the baseline.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const before = activeResources();
      const processListenersBefore = processListenerCounts();

      const connectionName = `flap-${process.pid}`;
      const idleConnectionTimeoutMs = 500;
      const manager = new RedisConnectionManager({ url: proxy.url, connectionName, idleConnectionTimeoutMs });
      let entered = 0;
      let recovered = 0;
      const subscriptions = [
        manager.onFallbackEntered(() => {
          entered += 1;
        }),
        manager.onRecovered(() => {
          recovered += 1;
        }),
        manager.onError(() => {}),
        manager.subscribe('flap', () => {}),
      ];
      await manager.connect();
      let running = true;
      let longestWaitMs = 0;
      let peakPoolSize = 0;
      const clients = new Set<Redis>();
      const concurrency = 10;
      const load = (async () => {
        while (running) {
          const started = performance.now();
          await Promise.allSettled(
            Array.from({ length: concurrency }, () =>
              manager.execute((client) => {
                clients.add(client);
                return client.incr('flap');
              }),
            ),
          );
          longestWaitMs = Math.max(longestWaitMs, performance.now() - started);
          peakPoolSize = Math.max(peakPoolSize, (await manager.getHealthStatus()).poolSize);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
      const flapUntil = performance.now() + FLAP_DURATION_MS;
      let reset = false;
      while (performance.now() < flapUntil) {
        reset = !reset;
        proxy.setMode(reset ? 'reset' : 'pass');
        await new Promise((resolve) => setTimeout(resolve, FLAP_PERIOD_MS));
      }
      proxy.setMode('pass');
      await waitFor(() => manager.isConnected, { timeoutMs: 5000 });
      running = false;
      await load;
      const afterLoad = await clientsNamed(admin, connectionName);
      // Idle now: every pooled connection but the first closes after idleConnectionTimeoutMs.
      const idleCount = await waitFor(
        async () => {
          const count = await clientsNamed(admin, connectionName);
          return count <= 3 ? count : 0;
        },
        { timeoutMs: idleConnectionTimeoutMs * 2 + 3000 },
      ).catch(async () => clientsNamed(admin, connectionName));
      const { poolSize } = await manager.getHealthStatus();
      console.info(
        `[figures] flapping ${FLAP_DURATION_MS / 1000} s every ${FLAP_PERIOD_MS} ms: fallbackEntries=${entered} recoveries=${recovered} longestCommandWait=${longestWaitMs.toFixed(1)}ms peakPoolSize=${peakPoolSize} redisClientsAfterLoad=${afterLoad} redisClientsIdle=${idleCount} poolSizeIdle=${poolSize}`,
      );
      expect(entered).toBeGreaterThan(5); // the faults were really seen
      expect(longestWaitMs).toBeLessThanOrEqual(manager.operationTimeoutMs + 100);
      // The pool follows concurrency (that many calls at once), not faults.
      expect(peakPoolSize).toBeLessThanOrEqual(concurrency + 1);
      // Idle: the first command connection and the subscriber (one more allowed for a reconnect in progress).
      expect(idleCount).toBeLessThanOrEqual(3);
      expect(poolSize).toBe(1);

      for (const subscription of subscriptions) subscription[Symbol.dispose]();
      await manager.disconnect();
      await proxy.close();
      await waitFor(() => leaked(before, activeResources()).length === 0, {
        timeoutMs: 2000,
        message: 'no leaked handles',
      }).catch(() => {
        throw new Error(`leaked after disconnect: ${leaked(before, activeResources()).join(', ')}`);
      });
      expect(processListenerCounts()).toEqual(processListenersBefore);
      expect(clients.size).toBeGreaterThan(0);
      // Ended, or stopped while waiting to reconnect (its reconnect timer cleared): nothing pending.
      for (const client of clients) expect(['end', 'reconnecting']).toContain(client.status);
      expect(await clientsNamed(admin, connectionName)).toBe(0);
    },
    FLAP_DURATION_MS + 30_000,
  );

  it('a child process that connects, runs commands and disconnects exits by itself within 1 s', async () => {
    const script = writeChildScript(
      'child.mjs',
      `
import { RedisConnectionManager } from './index.js';
const manager = new RedisConnectionManager({ url: process.argv[2] });
manager.subscribe('child', () => {});
if (!(await manager.connect())) process.exit(2);
await manager.execute((client) => client.set('child', 'ran'));
const value = await manager.execute((client) => client.get('child'));
await manager.disconnect();
process.stdout.write('disconnected ' + value + ' fallback=' + manager.fallbackMode + '\\n');
`,
    );
    const child = startChild(script, [redis.url]);
    await child.line('disconnected');
    const disconnectedAt = performance.now();
    const exit = await child.exited;
    expect(child.output()).toContain('disconnected ran fallback=true');
    expect(exit.code).toBe(0);
    const lingerMs = exit.at - disconnectedAt;
    console.info(`[figures] child process: exit ${lingerMs.toFixed(1)}ms after disconnect() resolved`);
    expect(lingerMs).toBeLessThan(EXIT_BOUND_MS);
  });

  it('a child whose Redis is frozen still exits by itself within 1 s of disconnect()', async () => {
    const script = writeChildScript(
      'child-frozen.mjs',
      `
import { RedisConnectionManager } from './index.js';
const manager = new RedisConnectionManager({ url: process.argv[2] });
manager.subscribe('child', () => {});
await manager.connect();
process.stdout.write('connected\\n');
process.stdin.once('data', async () => {
  await manager.execute((client) => client.ping()).catch(() => {});
  await manager.disconnect();
  process.stdout.write('disconnected\\n');
  process.stdin.destroy();
});
`,
    );
    const child = startChild(script, [redis.url]);
    await child.line('connected');
    await redis.pause();
    try {
      child.send('go');
      await child.line('disconnected', 5000);
      const disconnectedAt = performance.now();
      const exit = await child.exited;
      const lingerMs = exit.at - disconnectedAt;
      console.info(
        `[figures] child process, frozen Redis: exit ${lingerMs.toFixed(1)}ms after disconnect() resolved`,
      );
      expect(exit.code).toBe(0);
      expect(lingerMs).toBeLessThan(EXIT_BOUND_MS);
    } finally {
      await redis.resume();
    }
  });

  describe.each(['killed', 'blackholed'] as const)('disconnect() while Redis is %s', (outage) => {
    it(`finishes within ${DISCONNECT_BOUND_MS} ms (+${DISCONNECT_LOAD_MARGIN_MS} ms load margin), and the process exits by itself`, async () => {
      await using proxy = await startFaultProxy({ target: redis });
      const script = writeChildScript(
        'child-outage.mjs',
        `
import { RedisConnectionManager } from './index.js';
const manager = new RedisConnectionManager({ url: process.argv[2] });
manager.subscribe('outage', () => {});
if (!(await manager.connect())) process.exit(2);
// Real concurrency first, so that there are several pooled connections to close.
for (let round = 0; round < 5; round += 1) {
  await Promise.all(Array.from({ length: 8 }, () => manager.execute((client) => client.incr('outage'))));
}
process.stdout.write('ready pool=' + (await manager.getHealthStatus()).poolSize + '\\n');
process.stdin.once('data', async () => {
  // Commands in flight as the outage hits; reconnects and probes run meanwhile.
  for (let index = 0; index < 4; index += 1) manager.execute((client) => client.incr('outage')).catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 300));
  const started = performance.now();
  await manager.disconnect();
  process.stdout.write('disconnected ms=' + (performance.now() - started).toFixed(1) + '\\n');
  process.stdin.destroy();
});
`,
      );
      // Killed: straight to Redis (reconnects are refused); blackholed: through the proxy.
      const child = startChild(script, [outage === 'killed' ? redis.url : proxy.url]);
      try {
        const ready = await child.line('ready');
        expect(Number(/pool=(\d+)/.exec(ready)?.[1])).toBeGreaterThan(1);
        if (outage === 'killed') await redis.kill();
        else proxy.setMode('blackhole');
        child.send('go');
        const line = await child.line('disconnected', 5000);
        const disconnectedAt = performance.now();
        const disconnectMs = Number(/ms=([\d.]+)/.exec(line)?.[1]);
        const exit = await child.exited;
        const lingerMs = exit.at - disconnectedAt;
        console.info(
          `[figures] disconnect() with Redis ${outage}: ${disconnectMs.toFixed(1)} ms, process exit ${lingerMs.toFixed(1)} ms later`,
        );
        expect(disconnectMs).toBeLessThanOrEqual(DISCONNECT_BOUND_MS + DISCONNECT_LOAD_MARGIN_MS);
        expect(exit.code).toBe(0);
        expect(lingerMs).toBeLessThan(EXIT_BOUND_MS);
      } finally {
        child.kill();
        if (outage === 'killed') await redis.restart();
        await admin.ping().catch(() => undefined);
      }
    });
  });
});

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RedisServer, startFaultProxy, startRedis, waitFor } from '@xnai/test-utils';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisConnectionManager } from './redis-connection-manager.js';

const packageDirectory = join(import.meta.dirname, '..');

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

describe('lifecycle', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ controllable: true });
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('flapping (reset and pass every 500 ms for 30 s) leaves no handle, timer or listener behind', async () => {
    const proxy = await startFaultProxy({ target: redis });
    // Let the harness's own sockets settle before taking the baseline.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = activeResources();
    const processListenersBefore = processListenerCounts();

    const manager = new RedisConnectionManager({ url: proxy.url, maxConnections: 4 });
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
    const clients = new Set<Redis>();
    const load = (async () => {
      while (running) {
        const started = performance.now();
        await Promise.allSettled(
          [1, 2, 3].map(() =>
            manager.execute((client) => {
              clients.add(client);
              return client.incr('flap');
            }),
          ),
        );
        longestWaitMs = Math.max(longestWaitMs, performance.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const flapUntil = performance.now() + 30_000;
    let reset = false;
    while (performance.now() < flapUntil) {
      reset = !reset;
      proxy.setMode(reset ? 'reset' : 'pass');
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    proxy.setMode('pass');
    await waitFor(() => manager.isConnected, { timeoutMs: 5000 });
    running = false;
    await load;
    console.info(
      `[figures] flapping 30 s: fallbackEntries=${entered} recoveries=${recovered} longestCommandWait=${longestWaitMs.toFixed(1)}ms`,
    );
    expect(entered).toBeGreaterThan(5); // the faults were really seen
    expect(longestWaitMs).toBeLessThanOrEqual(manager.operationTimeoutMs + 20);

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
    for (const client of clients) expect(client.status).toBe('end');
  });

  it('a child process that connects, runs commands and disconnects exits by itself within 1 s', async () => {
    // Bundle the package as the child will use it (no TypeScript loader in plain node).
    const outDirectory = join(packageDirectory, 'node_modules/.cache/lifecycle-test');
    mkdirSync(outDirectory, { recursive: true });
    execFileSync(
      'pnpm',
      [
        'exec',
        'tsup',
        'src/index.ts',
        '--no-config',
        '--format',
        'esm',
        '--target',
        'node20',
        '--external',
        'ioredis',
        '--out-dir',
        outDirectory,
        '--silent',
      ],
      { cwd: packageDirectory, stdio: 'pipe' },
    );
    const script = join(outDirectory, 'child.mjs');
    writeFileSync(
      script,
      `
import { RedisConnectionManager } from './index.js';
const manager = new RedisConnectionManager({ url: process.argv[2] });
manager.subscribe('child', () => {});
if (!(await manager.connect())) process.exit(2);
await manager.execute((client) => client.set('child', 'ran'));
const value = await manager.execute((client) => client.get('child'));
await manager.disconnect();
process.stdout.write('disconnected ' + value + '\\n');
`,
    );
    const child = spawn(process.execPath, [script, redis.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let disconnectedAt = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('disconnected')) disconnectedAt ||= performance.now();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exitCode = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const exitedAt = performance.now();
    expect(output).toContain('disconnected ran');
    expect(exitCode).toBe(0);
    const lingerMs = exitedAt - disconnectedAt;
    console.info(`[figures] child process: exit ${lingerMs.toFixed(1)}ms after disconnect() resolved`);
    expect(lingerMs).toBeLessThan(1000);
  });

  it('a child whose Redis is frozen still exits by itself within 1 s of disconnect()', async () => {
    const script = join(packageDirectory, 'node_modules/.cache/lifecycle-test/child-frozen.mjs');
    writeFileSync(
      script,
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
    const child = spawn(process.execPath, [script, redis.url], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await waitFor(() => output.includes('connected'), { timeoutMs: 5000 });
    await redis.pause();
    try {
      child.stdin.write('go\n');
      await waitFor(() => output.includes('disconnected'), { timeoutMs: 5000 });
      const disconnectedAt = performance.now();
      const exitCode = await exited;
      const lingerMs = performance.now() - disconnectedAt;
      console.info(
        `[figures] child process, frozen Redis: exit ${lingerMs.toFixed(1)}ms after disconnect() resolved`,
      );
      expect(exitCode).toBe(0);
      expect(lingerMs).toBeLessThan(1000);
    } finally {
      await redis.resume();
    }
  });
});

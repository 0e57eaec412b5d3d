import { execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createCircuitBreaker } from '@xnai/cb-core';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { RedisStateStore } from '@xnai/cb-store-redis';
import { getFreePort, type RedisServer, startRedis, waitFor } from '@xnai/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** `xnai-cb` as an operator runs it: a child process of the built bin, against a local redis-server. */
const bin = resolve(import.meta.dirname, '../dist/cli.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      },
    );
  });
}

let server: RedisServer;
let manager: RedisConnectionManager;
let prefixes = 0;

beforeAll(async () => {
  server = await startRedis();
  manager = new RedisConnectionManager({ url: server.url });
  await manager.connect();
});
afterAll(async () => {
  await manager?.disconnect();
  await server?.stop();
});

/** A service instance's breakers on the same Redis, under a fresh prefix. */
function fleet() {
  const keyPrefix = `cli${++prefixes}:`;
  const store = new RedisStateStore({ redis: manager, keyPrefix });
  const breaker = (name: string, failureThreshold = 5) =>
    createCircuitBreaker({ name, store, failureThreshold, openTimeoutMs: 60_000 });
  return { keyPrefix, store, breaker };
}
const boom = (): Promise<never> => Promise.reject(new Error('down'));

describe('xnai-cb against a local redis-server', () => {
  it('lists circuits with status, state and counts, as a table and as JSON; REDIS_URL is the default', async () => {
    const { keyPrefix, store, breaker } = fleet();
    const payments = breaker('payments', 1);
    const search = breaker('search');
    await payments.execute(boom).catch(() => undefined);
    for (let i = 0; i < 2; i++) await search.execute(boom).catch(() => undefined);
    await payments.flush();
    await search.flush();
    const table = await cli(['--prefix', keyPrefix, 'list'], { REDIS_URL: server.url });
    expect(table.stderr).toBe('');
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+STATUS\s+STATE\s+FAILURES\s+SUCCESSES\s+OPEN UNTIL\s+OVERRIDE$/);
    expect(lines[1]).toMatch(/^payments\s+open\s+open\s+1\s+0\s+\d{4}-\d\d-\d\dT/);
    expect(lines[2]).toMatch(/^search\s+closed\s+closed\s+2\s+0\s+-\s+-$/);
    const json = await cli(['--url', server.url, '--prefix', keyPrefix, '--json', 'list']);
    expect(JSON.parse(json.stdout)).toMatchObject([
      { name: 'payments', status: 'open', failureCount: 1 },
      { name: 'search', status: 'closed', failureCount: 2, openUntil: null },
    ]);
    const shown = await cli(['--url', server.url, '--prefix', keyPrefix, '--json', 'show', 'payments']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ name: 'payments', status: 'open', consecutiveOpens: 1 });
    await store.close();
  });

  it('forces open and closed with reason and duration, clears, resets and deletes, fleet-wide', async () => {
    const { keyPrefix, store, breaker } = fleet();
    const instance = breaker('inventory');
    await instance.execute(boom).catch(() => undefined);
    await instance.flush();
    const run = (...args: string[]) => cli(['--url', server.url, '--prefix', keyPrefix, ...args]);

    const opened = await run('force-open', 'inventory', '--reason', 'db migration', '--duration', '10m');
    expect(opened.code).toBe(0);
    expect(opened.stdout).toMatch(/^inventory: forced_open "db migration" until \d{4}-/);
    // The service's breaker, another process's view, takes the operator's override.
    await waitFor(() => instance.status === 'forced_open', { timeoutMs: 3_000 });
    const override = instance.stateData.override;
    expect(override?.reason).toBe('db migration');
    expect((override?.expiresAt as number) - (override?.setAt as number)).toBe(600_000);

    expect((await run('clear', 'inventory')).stdout).toBe('inventory: override cleared, closed\n');
    await waitFor(() => instance.status === 'closed', { timeoutMs: 3_000 });
    expect((await run('force-closed', 'inventory')).code).toBe(0);
    await waitFor(() => instance.status === 'forced_closed', { timeoutMs: 3_000 });
    expect((await run('reset', 'inventory')).stdout).toBe('inventory: reset, closed\n');
    expect((await store.getState('inventory'))?.failureCount).toBe(0);
    expect((await run('delete', 'inventory')).stdout).toBe('inventory: deleted\n');
    expect(await store.getState('inventory')).toBeUndefined();
    const gone = await run('show', 'inventory');
    expect(gone.code).toBe(3);
    await store.close();
  });

  it('says clearly when a circuit is unknown, and force-opens one only with --create', async () => {
    const { keyPrefix, store } = fleet();
    const run = (...args: string[]) => cli(['--url', server.url, '--prefix', keyPrefix, ...args]);
    for (const command of ['show', 'clear', 'reset', 'delete', 'force-open']) {
      const result = await run(command, 'paymnets');
      expect(result.code, command).toBe(3);
      expect(result.stderr, command).toBe(
        `xnai-cb: unknown circuit "paymnets": no state at ${keyPrefix}paymnets (run "xnai-cb list" to see the circuits)\n`,
      );
    }
    expect(await store.getState('paymnets')).toBeUndefined();
    expect((await run('force-open', 'new-circuit', '--create')).code).toBe(0);
    expect((await store.getState('new-circuit'))?.override?.mode).toBe('forced_open');
    await store.close();
  });

  it('says clearly when the URL is wrong or Redis is not there', async () => {
    const invalid = await cli(['--url', 'http://localhost:6379', 'list']);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(
      /^xnai-cb: invalid Redis URL: url must be a redis:\/\/ or rediss:\/\/ URL/,
    );
    const port = await getFreePort();
    const started = performance.now();
    const unreachable = await cli(['--url', `redis://127.0.0.1:${port}`, 'list']);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(
      new RegExp(`^xnai-cb: cannot reach Redis at 127\\.0\\.0\\.1:${port}: `),
    );
    // The first refused connection ends it: not the three attempts (0, 1, 2 s) a service makes.
    expect(performance.now() - started).toBeLessThan(2_900);
    const usage = await cli(['--url', server.url, 'frobnicate']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe('xnai-cb: unknown command "frobnicate" (see xnai-cb --help)\n');
    expect((await cli(['force-open', 'x', '--duration', 'soon'])).stderr).toMatch(
      /--duration must be a positive duration/,
    );
    expect((await cli([])).code).toBe(2);
    expect((await cli(['--help'])).stdout).toMatch(/^Usage: xnai-cb/);
  });

  it('says clearly when the password is wrong, without printing it', async () => {
    const secured = await startRedis({ password: 'right-password' });
    try {
      const url = new URL(secured.url);
      url.password = 'not-the-password';
      const wrong = await cli(['--url', url.toString(), 'list']);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toBe(
        `xnai-cb: Redis at 127.0.0.1:${url.port} refused the credentials: check the password (and user) in the URL or REDIS_URL\n`.replace(
          '127.0.0.1',
          url.hostname,
        ),
      );
      expect(wrong.stderr + wrong.stdout).not.toContain('not-the-password');
      const right = await cli(['--url', secured.url, 'list']);
      expect(right.code).toBe(0);
    } finally {
      await secured.stop();
    }
  });

  it('watch streams status changes from the events channel until interrupted', async () => {
    const { keyPrefix, store, breaker } = fleet();
    const child = spawn(
      process.execPath,
      [bin, '--url', server.url, '--prefix', keyPrefix, '--json', 'watch'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    try {
      await waitFor(() => stderr.includes('watching every circuit'), { timeoutMs: 10_000 });
      const orders = breaker('orders', 1);
      await orders.execute(boom).catch(() => undefined);
      // The breaker opens at once and sends the failure to Redis on its own; an override sent before
      // that write lands would make it count for nothing (no open change at all). Wait for the open.
      await waitFor(() => stdout.includes('"to":"open"'), {
        timeoutMs: 5_000,
        message: `the open change on watch's stdout (stdout: ${JSON.stringify(stdout)})`,
      });
      await orders.forceClosed({ reason: 'drill' });
      await waitFor(() => stdout.trim().split('\n').length >= 2, {
        timeoutMs: 5_000,
        message: `two changes on watch's stdout (stdout: ${JSON.stringify(stdout)})`,
      });
      const events = stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { name: string; from: string; to: string; reason: string });
      expect(events.map(({ name, from, to, reason }) => ({ name, from, to, reason }))).toEqual([
        { name: 'orders', from: 'closed', to: 'open', reason: 'failure_threshold' },
        { name: 'orders', from: 'open', to: 'forced_closed', reason: 'forced_closed' },
      ]);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      await orders.close();
    } finally {
      child.kill('SIGKILL');
      await store.close();
    }
  });
});

import {
  type CallOutcome,
  type CircuitPolicyOptions,
  createCircuitBreaker,
  resolvePolicy,
} from '@xnai/cb-core';
import { MemoryStateStore } from '@xnai/cb-store-memory';
import { type RedisServer, startRedis } from '@xnai/test-utils';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStateStore } from './redis-state-store.js';

/**
 * One flush of a sliding-window breaker at a million calls per second: what Redis spends on it must
 * not grow with the call rate (DESIGN §8: one flush ≤ 1 ms of Redis time at 1,000,000 calls/s).
 * Redis's own accounting (INFO commandstats, INFO stats) is the witness.
 */
const CALLS = 1_000_000;
/**
 * The documented bound is 1 ms of Redis time per flush. Redis measures script time on the wall
 * clock, so on a machine whose cores are busy a preempted Redis reads longer; the margin covers that
 * and still tells a bounded script from one that walks a million outcomes (seconds, before this).
 */
const REDIS_USEC_LIMIT = 25_000;
/** What one flush may send to Redis: the batch of at most `size` codes plus the policy and a header. */
const REQUEST_BYTES_LIMIT = 12_000;

let server: RedisServer;
let client: Redis;
let admin: Redis;

beforeAll(async () => {
  // Commandstats are reset here: a server of our own, never a shared REDIS_URL.
  server = await startRedis({ controllable: true });
  client = new Redis(server.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  admin = new Redis(server.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  await client.connect();
  await admin.connect();
});

afterAll(async () => {
  client?.disconnect();
  admin?.disconnect();
  await server?.stop();
});

async function info(section: string): Promise<Record<string, string>> {
  const text = await admin.info(section);
  const fields: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const [key, value] = line.split(':');
    if (key !== undefined && value !== undefined) fields[key] = value;
  }
  return fields;
}

/** Calls and microseconds of the script command since the last RESETSTAT. */
async function scriptStats(): Promise<{ calls: number; usec: number }> {
  const stats = await info('commandstats');
  let calls = 0;
  let usec = 0;
  for (const [key, value] of Object.entries(stats)) {
    if (!/^cmdstat_(evalsha|eval)$/.test(key)) continue;
    calls += Number(/calls=(\d+)/.exec(value)?.[1] ?? 0);
    usec += Number(/usec=(\d+)/.exec(value)?.[1] ?? 0);
  }
  return { calls, usec };
}

const windows: Array<[string, CircuitPolicyOptions]> = [
  ['a count window of 10,000', { slidingWindow: { type: 'count', size: 10_000 }, minimumCalls: 100 }],
  ['a 60 s time window', { slidingWindow: { type: 'time', durationMs: 60_000 }, minimumCalls: 100 }],
];

describe('one flush of a million calls', () => {
  for (const [label, options] of windows) {
    it(`costs Redis a bounded script with ${label}, and ends where the memory store does`, async () => {
      const now = Date.UTC(2026, 11, 1, 12, 0, 0, 250);
      const clock = { now: () => now, setTimeout, clearTimeout };
      const prefix = `flush:${label.length}:`;
      const store = new RedisStateStore({
        redis: client,
        keyPrefix: prefix,
        clock,
        useClientTime: true,
        operationTimeoutMs: 10_000,
      });
      const policyOptions = { failureThreshold: 1_000, failureRateThreshold: 0.5, ...options };
      const breaker = createCircuitBreaker({
        name: 'hot',
        store,
        clock,
        recordIntervalMs: 3_600_000,
        ...policyOptions,
      });
      await breaker.refresh();
      // Load the script into Redis's cache first: a NOSCRIPT retry would be a second command.
      await store.record('warm-up', [{ kind: 'success' }], breaker.policy);
      // Every tenth call fails: 10 % of the window, well under the 50 % threshold.
      const outcomes: CallOutcome[] = [];
      const fail = (): never => {
        throw new Error('boom');
      };
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < CALLS; i++) {
        const failed = i % 10 === 9;
        outcomes.push(failed ? { kind: 'failure' } : { kind: 'success' });
        calls.push(breaker.execute(failed ? fail : () => i).catch(() => undefined));
      }
      await Promise.all(calls);
      await admin.config('RESETSTAT');
      await breaker.flush();
      const stats = await scriptStats();
      const net = await info('stats');
      expect(stats.calls).toBe(1);
      expect(stats.usec).toBeLessThan(REDIS_USEC_LIMIT);
      expect(Number(net.total_net_input_bytes)).toBeLessThan(REQUEST_BYTES_LIMIT);

      const memory = new MemoryStateStore({ clock });
      const expected = await memory.record('hot', outcomes, breaker.policy);
      const stored = await store.getState('hot');
      expect(stored).toEqual(expected);
      expect(stored).toMatchObject({ state: 'closed', failureCount: 1 });
      console.log(
        `[figures] one flush of ${CALLS.toLocaleString('en')} calls, ${label}: ${stats.usec} µs of Redis time ` +
          `(INFO commandstats), ${net.total_net_input_bytes} bytes sent`,
      );
      await breaker.close();
      await store.close();
      await memory.close();
    });
  }

  it('rejects the old unbounded form nowhere: a list of a million outcomes is reduced before it is sent', async () => {
    const store = new RedisStateStore({
      redis: client,
      keyPrefix: 'flush-list:',
      operationTimeoutMs: 10_000,
    });
    const policy = resolvePolicy({
      slidingWindow: { type: 'count', size: 10_000 },
      failureThreshold: 10_000,
    });
    const outcomes: CallOutcome[] = Array.from({ length: CALLS }, (_, i) =>
      i % 4 === 0 ? { kind: 'failure' } : { kind: 'success' },
    );
    await store.record('warm-up', [{ kind: 'success' }], policy);
    await admin.config('RESETSTAT');
    const data = await store.record('listed', outcomes, policy);
    const stats = await scriptStats();
    expect(stats.usec).toBeLessThan(REDIS_USEC_LIMIT);
    expect(data.window.kind === 'count' ? data.window.outcomes.length : 0).toBe(10_000);
    await store.close();
  });
});

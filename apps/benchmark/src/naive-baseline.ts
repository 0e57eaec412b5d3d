import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { CircuitBreakerRegistry } from '@xnai/cb-registry';
import { Redis } from 'ioredis';
import type { BenchContext } from './context.js';
import { compare, figureOf } from './harness.js';
import { NaiveSharedBreaker } from './naive-breaker.js';
import { difference, sampleRedis } from './redis-info.js';
import { type MeasurementResult, row } from './report.js';
import { countSentCommands, total } from './sent-commands.js';

const MEASUREMENT = '10 closed path, shared state';
const BARE = 'bare await fn()';
const OURS = 'ours, registry on Redis';
const NAIVE = 'naive shared breaker (1 EVALSHA per call)';
const OURS_CONNECTION = 'xnai-bench-naive-ours';
const NAIVE_CONNECTION = 'xnai-bench-naive';

/**
 * The closed path with state shared through Redis: ours (the registry: local view, no store I/O on
 * a closed circuit) against the naive design of one Redis round trip per call, and a bare
 * `await fn()`. Sequential calls, one in flight; plus the Redis commands each sends per call.
 */
export async function measureNaiveBaseline(context: BenchContext): Promise<MeasurementResult> {
  const fn = async (): Promise<number> => 42;
  const sent = countSentCommands();
  sent.set(OURS_CONNECTION, {});
  sent.set(NAIVE_CONNECTION, {});
  const manager = new RedisConnectionManager({ url: context.redisUrl, connectionName: OURS_CONNECTION });
  if (!(await manager.connect())) throw new Error('naive baseline: Redis is not connected');
  const registry = new CircuitBreakerRegistry({
    redis: manager,
    keyPrefix: `${context.keyPrefix}naive-ours:`,
  });
  const admin = context.createClient();
  const naiveClient = new Redis(context.redisUrl, {
    maxRetriesPerRequest: 1,
    connectionName: NAIVE_CONNECTION,
  });
  const naive = new NaiveSharedBreaker(naiveClient, `${context.keyPrefix}naive:circuit`);
  try {
    registry.registerCircuitBreaker('naive-baseline');
    const ours = () => registry.callWithCircuitBreaker('naive-baseline', fn);
    await ours();
    await naive.execute(fn);
    const options = context.quick
      ? { iterations: 500, rounds: 3, warmupIterations: 500 }
      : { iterations: 20_000, rounds: 5, warmupIterations: 5_000 };
    const figures = await compare(
      [
        { subject: BARE, task: () => fn() },
        { subject: OURS, task: ours },
        { subject: NAIVE, task: () => naive.execute(fn) },
      ],
      options,
    );
    // Commands per call over a separate run of each: sent on its connections, and executed by
    // Redis (INFO commandstats, which also counts what a script runs inside).
    const calls = context.quick ? 200 : 10_000;
    const commandsPerCall: Record<string, number> = {};
    const executedPerCall: Record<string, number> = {};
    for (const [subject, connection, task] of [
      [OURS, OURS_CONNECTION, ours],
      [NAIVE, NAIVE_CONNECTION, () => naive.execute(fn)],
    ] as const) {
      const before = await sampleRedis(admin);
      const sentBefore = total(sent.get(connection));
      for (let index = 0; index < calls; index += 1) await task();
      commandsPerCall[subject] = (total(sent.get(connection)) - sentBefore) / calls;
      const after = await sampleRedis(admin);
      executedPerCall[subject] = difference(before, after).commands / calls;
    }
    const bare = figureOf(figures, BARE).medianNsPerOp;
    const oursNs = figureOf(figures, OURS).medianNsPerOp;
    const naiveNs = figureOf(figures, NAIVE).medianNsPerOp;
    return {
      rows: [
        row({
          id: 'naive.bare',
          measurement: MEASUREMENT,
          subject: BARE,
          value: bare,
          unit: 'ns/op',
          ratio: 1,
          ratioOf: 'bare await',
        }),
        row({
          id: 'naive.ours',
          measurement: MEASUREMENT,
          subject: OURS,
          value: oursNs,
          unit: 'ns/op',
          ratio: oursNs / bare,
          ratioOf: 'bare await',
          target: '<= 2.00x',
          met: oursNs / bare <= 2,
        }),
        row({
          id: 'naive.naive',
          measurement: MEASUREMENT,
          subject: NAIVE,
          value: naiveNs,
          unit: 'ns/op',
          ratio: naiveNs / bare,
          ratioOf: 'bare await',
        }),
        row({
          id: 'naive.ours.commands',
          measurement: MEASUREMENT,
          subject: `${OURS}: Redis commands sent per call`,
          value: commandsPerCall[OURS] as number,
          unit: 'cmd/call',
        }),
        row({
          id: 'naive.naive.commands',
          measurement: MEASUREMENT,
          subject: `${NAIVE}: Redis commands sent per call (${(executedPerCall[NAIVE] as number).toFixed(1)} executed, with the script's own)`,
          value: commandsPerCall[NAIVE] as number,
          unit: 'cmd/call',
        }),
      ],
      raw: { options, figures, calls, commandsPerCall, executedPerCall },
      notes: [
        `shared state: the naive breaker keeps its state in Redis only and asks it on every call (one EVALSHA, a second on failure); ours serves a closed circuit from its local view. Sequential calls on loopback, so the naive figure is mostly the round trip; commands per call counted on each one's connections (and by Redis's INFO commandstats) over ${calls.toLocaleString('en-US')} calls each.`,
      ],
    };
  } finally {
    await registry.cleanup();
    naiveClient.disconnect();
  }
}

import { type CallOutcome, resolvePolicy } from '@xnai/cb-core';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { RedisStateStore } from '@xnai/cb-store-redis';
import type { Redis } from 'ioredis';
import type { BenchContext } from './context.js';
import { compare, figureOf } from './harness.js';
import { type MeasurementResult, row } from './report.js';

const MEASUREMENT = '5 store round trip';
const SUCCESS: readonly CallOutcome[] = [{ kind: 'success' }];
const TRIVIAL_SCRIPT = 'return 1';

/**
 * Redis time per script: the 5 µs at its 1.8 µs raw EVALSHA, held as the ratio (3x a raw
 * EVALSHA in the same run), since a shared machine's absolute times vary twofold between runs.
 */
const SERVER_TARGET_RATIO = 3;
const SCRIPT_REMEDY =
  'fewer commands inside the script (each redis.call costs about one raw EVALSHA: TIME, HGET, HSET and PEXPIRE make a record 5 of them), ' +
  'Redis Functions (FUNCTION LOAD once: no per-call closures and tables, the policy parsed once per distinct policy), ' +
  'and the TTL refreshed only when it runs low instead of on every write';

/**
 * Server-side microseconds Redis has spent so far in every command but INFO (what the measurement
 * itself sends): scripts, and the plain commands a read sends instead of one.
 */
async function serverTime(client: Redis): Promise<number> {
  const info = await client.info('commandstats');
  let usec = 0;
  for (const match of info.matchAll(/cmdstat_([a-z_|]+):calls=\d+,usec=(\d+)/g)) {
    if (match[1] !== 'info') usec += Number(match[2]);
  }
  return usec;
}

/** Runs `task` `count` times, one at a time, and returns Redis's microseconds per task meanwhile. */
async function serverMicrosecondsPerCall(
  client: Redis,
  count: number,
  task: () => Promise<unknown>,
): Promise<number> {
  const before = await serverTime(client);
  for (let index = 0; index < count; index += 1) await task();
  const after = await serverTime(client);
  return (after - before) / count;
}

/**
 * One `RedisStateStore.record()` (the full transition script) vs a raw EVALSHA of a trivial script,
 * sequential, on the same ioredis client; plus record() over a RedisConnectionManager for context.
 */
export async function measureStoreRoundTrip(context: BenchContext): Promise<MeasurementResult> {
  const client = context.createClient();
  const prefix = `${context.keyPrefix}round-trip:`;
  const store = new RedisStateStore({ redis: client, keyPrefix: prefix });
  const manager = new RedisConnectionManager({ url: context.redisUrl });
  const managedStore = new RedisStateStore({ redis: manager, keyPrefix: prefix });
  const policy = resolvePolicy({});
  try {
    if (!(await manager.connect())) throw new Error('round trip: the connection manager did not connect');
    const sha = (await client.script('LOAD', TRIVIAL_SCRIPT)) as string;
    const rawKey = `${prefix}raw`;
    const options = context.quick
      ? { iterations: 100, rounds: 3, warmupIterations: 100 }
      : { iterations: 3_000, rounds: 9, warmupIterations: 1_000 };
    const figures = await compare(
      [
        { subject: 'raw EVALSHA (return 1)', task: () => client.evalsha(sha, 1, rawKey) },
        {
          subject: 'store.record(), ioredis client',
          task: () => store.record('round-trip', SUCCESS, policy),
        },
        {
          subject: 'store.record(), connection manager',
          task: () => managedStore.record('round-trip-managed', SUCCESS, policy),
        },
      ],
      options,
    );
    // Where the time goes: Redis's own time per call (script execution), the rest is client and wire.
    const diagnosticCalls = context.quick ? 100 : 2_000;
    const rawServerUs = await serverMicrosecondsPerCall(client, diagnosticCalls, () =>
      client.evalsha(sha, 1, rawKey),
    );
    const recordServerUs = await serverMicrosecondsPerCall(client, diagnosticCalls, () =>
      store.record('round-trip', SUCCESS, policy),
    );
    const getStateServerUs = await serverMicrosecondsPerCall(client, diagnosticCalls, () =>
      store.getState('round-trip'),
    );
    let lease = 0;
    const acquireServerUs = await serverMicrosecondsPerCall(client, diagnosticCalls, () => {
      lease += 1;
      return store.acquire('round-trip', policy, { leaseId: `bench-${lease}` });
    });
    const serverRow = (id: string, subject: string, value: number) =>
      row({
        id,
        measurement: MEASUREMENT,
        subject,
        value,
        unit: 'µs',
        ratio: value / rawServerUs,
        ratioOf: 'EVALSHA server time',
        target: `<= ${SERVER_TARGET_RATIO.toFixed(2)}x EVALSHA server time`,
        met: value / rawServerUs <= SERVER_TARGET_RATIO,
        remedy: SCRIPT_REMEDY,
      });
    const rawNs = figureOf(figures, 'raw EVALSHA (return 1)').medianNsPerOp;
    const direct = figureOf(figures, 'store.record(), ioredis client').medianNsPerOp;
    const managed = figureOf(figures, 'store.record(), connection manager').medianNsPerOp;
    const microseconds = (ns: number) => ns / 1_000;
    return {
      rows: [
        row({
          id: 'round-trip.evalsha',
          measurement: MEASUREMENT,
          subject: 'raw EVALSHA (return 1)',
          value: microseconds(rawNs),
          unit: 'µs',
          ratio: 1,
          ratioOf: 'EVALSHA',
        }),
        row({
          id: 'round-trip.record',
          measurement: MEASUREMENT,
          subject: 'store.record(), ioredis client',
          value: microseconds(direct),
          unit: 'µs',
          ratio: direct / rawNs,
          ratioOf: 'EVALSHA',
          target: '<= 1.30x',
          met: direct / rawNs <= 1.3,
          remedy: `the script's own Redis time (below): ${SCRIPT_REMEDY}`,
        }),
        row({
          id: 'round-trip.server-evalsha',
          measurement: MEASUREMENT,
          subject: 'of which Redis server time, raw EVALSHA',
          value: rawServerUs,
          unit: 'µs',
        }),
        serverRow('round-trip.server-record', 'of which Redis server time, record()', recordServerUs),
        serverRow(
          'round-trip.server-acquire',
          'Redis server time, acquire() on a closed circuit',
          acquireServerUs,
        ),
        serverRow('round-trip.server-get-state', 'Redis server time, getState()', getStateServerUs),
        row({
          id: 'round-trip.record-managed',
          measurement: MEASUREMENT,
          subject: 'store.record(), connection manager',
          value: microseconds(managed),
          unit: 'µs',
          ratio: managed / rawNs,
          ratioOf: 'EVALSHA',
        }),
      ],
      raw: {
        options,
        figures,
        diagnosticCalls,
        rawServerUs,
        recordServerUs,
        acquireServerUs,
        getStateServerUs,
      },
      notes: [
        'round trip: sequential (one in flight); record() of one success on a closed circuit runs the full transition script. Server time is INFO commandstats usec of every command but INFO per operation, over a separate run of each (record and acquire: one EVALSHA; getState: TIME and HGET in one pipeline); the rest of a round trip is client code and the wire.',
      ],
    };
  } finally {
    await store.close();
    await managedStore.close();
    await manager.disconnect();
  }
}

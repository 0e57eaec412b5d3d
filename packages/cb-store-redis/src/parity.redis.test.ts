import {
  type CallOutcome,
  type CircuitPolicy,
  type CircuitStateData,
  type CircuitStateStore,
  createInitialState,
  JITTER_SCALE,
  type ProbeTicket,
  reduceOutcomes,
  resolvePolicy,
  transition,
} from '@xnai/cb-core';
import { MemoryStateStore } from '@xnai/cb-store-memory';
import { type RedisServer, startRedis } from '@xnai/test-utils';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStateStore } from './redis-state-store.js';

/**
 * Parity: the Lua transition and the TypeScript one must agree on every state and every admission.
 * Random policies and random sequences of outcomes, probes, time steps, overrides and resets are
 * driven through the memory store and the Redis store side by side, on one injected clock.
 */
const RUNS = Number(process.env.CB_PARITY_RUNS ?? 1_000);

type Step =
  | { kind: 'advance'; ms: number }
  | { kind: 'acquire'; jitter: number }
  | {
      kind: 'record';
      outcomes: Array<{ kind: CallOutcome['kind']; slow: boolean; ticket: number | null }>;
      jitter: number;
    }
  | {
      kind: 'override';
      mode: 'forced_open' | 'forced_closed' | null;
      durationMs: number | null;
      /** A duration the store resolves on its clock, rather than an absolute expiry. */
      relative: boolean;
      reason: string | null;
    }
  | { kind: 'reset' }
  | { kind: 'delete' }
  | {
      /** setState with data derived from the current state: any state, times up to a year ahead. */
      kind: 'set';
      state: 'closed' | 'open' | 'half_open';
      failureCount: number;
      aheadMs: number;
      override: boolean;
    }
  | {
      /** A flush interval's worth of closed-state outcomes, as runs; up to 60,000 outcomes. */
      kind: 'bulk';
      runs: Array<{ kind: CallOutcome['kind']; slow: boolean; count: number }>;
      jitter: number;
      /** Which store gets the list (the other gets its reduction). */
      listTo: 'memory' | 'redis';
    };

const policies: fc.Arbitrary<CircuitPolicy> = fc
  .record({
    failureThreshold: fc.integer({ min: 1, max: 5 }),
    successThreshold: fc.integer({ min: 1, max: 3 }),
    halfOpenMaxCalls: fc.integer({ min: 1, max: 3 }),
    openTimeoutMs: fc.integer({ min: 1, max: 3_000 }),
    extraMaxMs: fc.integer({ min: 0, max: 10_000 }),
    backoffMultiplier: fc.constantFrom(1, 1.5, 2, 2.7),
    jitterRatio: fc.constantFrom(0, 0.1, 0.33, 1),
    probeLeaseMs: fc.integer({ min: 1, max: 2_000 }),
    window: fc.constantFrom('none', 'count', 'time'),
    countSize: fc.constantFrom(6, 100),
    slow: fc.boolean(),
    failureRateThreshold: fc.constantFrom(0.3, 0.5, 2 / 3, 1),
  })
  .map((p) =>
    resolvePolicy({
      failureThreshold: p.failureThreshold,
      successThreshold: p.successThreshold,
      halfOpenMaxCalls: p.halfOpenMaxCalls,
      openTimeoutMs: p.openTimeoutMs,
      maxOpenTimeoutMs: p.openTimeoutMs + p.extraMaxMs,
      backoffMultiplier: p.backoffMultiplier,
      jitterRatio: p.jitterRatio,
      probeLeaseMs: p.probeLeaseMs,
      slidingWindow:
        p.window === 'none'
          ? null
          : p.window === 'count'
            ? { type: 'count', size: p.countSize }
            : { type: 'time', durationMs: 3_000, bucketCount: 6 },
      minimumCalls: 3,
      failureRateThreshold: p.failureRateThreshold,
      slowCallDurationMs: p.window !== 'none' && p.slow ? 50 : null,
      slowCallRateThreshold: 0.5,
    }),
  );

const steps: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    // Time also steps back: Redis TIME after a failover to a host whose clock is behind, an NTP step.
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.oneof(
        { weight: 5, arbitrary: fc.integer({ min: 0, max: 3_000 }) },
        { weight: 1, arbitrary: fc.integer({ min: -600_000, max: -1 }) },
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('acquire' as const),
      jitter: fc.integer({ min: 0, max: JITTER_SCALE - 1 }),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('record' as const),
      outcomes: fc.array(
        fc.record({
          kind: fc.constantFrom('success', 'failure', 'ignored') as fc.Arbitrary<CallOutcome['kind']>,
          slow: fc.boolean(),
          ticket: fc.option(fc.nat(20), { nil: null }),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      jitter: fc.integer({ min: 0, max: JITTER_SCALE - 1 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('override' as const),
      mode: fc.constantFrom('forced_open', 'forced_closed', null) as fc.Arbitrary<
        'forced_open' | 'forced_closed' | null
      >,
      durationMs: fc.option(fc.integer({ min: 1, max: 4_000 }), { nil: null }),
      relative: fc.boolean(),
      reason: fc.option(fc.string({ maxLength: 12 }), { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'delete' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      state: fc.constantFrom('closed', 'open', 'half_open') as fc.Arbitrary<'closed' | 'open' | 'half_open'>,
      failureCount: fc.nat(6),
      aheadMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 365 * 86_400_000 })),
      override: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'reset' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('bulk' as const),
      runs: fc.array(
        fc.record({
          kind: fc.constantFrom('success', 'failure', 'ignored') as fc.Arbitrary<CallOutcome['kind']>,
          slow: fc.boolean(),
          count: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 20_000 })),
        }),
        { minLength: 1, maxLength: 3 },
      ),
      jitter: fc.integer({ min: 0, max: JITTER_SCALE - 1 }),
      listTo: fc.constantFrom('memory', 'redis') as fc.Arbitrary<'memory' | 'redis'>,
    }),
  },
);

describe('parity of the Lua and TypeScript transitions', () => {
  let server: RedisServer;
  let client: Redis;
  let now = Date.UTC(2026, 10, 27, 8);
  const clock = { now: () => now, setTimeout, clearTimeout };
  let redisStore: CircuitStateStore;
  let memoryStore: CircuitStateStore;

  beforeAll(async () => {
    server = await startRedis();
    client = new Redis(server.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    await client.connect();
    redisStore = new RedisStateStore({
      redis: client,
      clock,
      useClientTime: true,
      keyPrefix: 'parity:',
      operationTimeoutMs: 5_000,
    });
    memoryStore = new MemoryStateStore({ clock });
  });

  afterAll(async () => {
    await redisStore?.close();
    await memoryStore?.close();
    client?.disconnect();
    await server?.stop();
  });

  it(`agrees on every state and admission over ${RUNS} random runs`, async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        policies,
        fc.array(steps, { minLength: 1, maxLength: 25 }),
        async (policy, sequence) => {
          run += 1;
          const name = `parity-${run}-${Math.random().toString(36).slice(2, 8)}`;
          const tickets: ProbeTicket[] = [];
          let leases = 0;
          for (const step of sequence) {
            if (step.kind === 'advance') {
              now += step.ms;
              continue;
            }
            const both = async <T>(apply: (store: CircuitStateStore) => Promise<T>): Promise<T> => {
              const [fromMemory, fromRedis] = await Promise.all([apply(memoryStore), apply(redisStore)]);
              expect(fromRedis).toEqual(fromMemory);
              return fromMemory;
            };
            if (step.kind === 'acquire') {
              const leaseId = `lease-${leases++}`;
              const result = await both((store) =>
                store.acquire(name, policy, { leaseId, jitter: step.jitter }),
              );
              if (result.admission.allowed && result.admission.probe !== null)
                tickets.push(result.admission.probe);
            } else if (step.kind === 'record') {
              const outcomes = step.outcomes.map((o) => ({
                kind: o.kind,
                slow: o.slow,
                probe: o.ticket === null ? null : (tickets[o.ticket % Math.max(1, tickets.length)] ?? null),
              }));
              await both((store) => store.record(name, outcomes, policy, step.jitter));
            } else if (step.kind === 'bulk') {
              const outcomes: CallOutcome[] = [];
              for (const run of step.runs) {
                for (let i = 0; i < run.count; i++) outcomes.push({ kind: run.kind, slow: run.slow });
              }
              const reduced = reduceOutcomes(outcomes, policy).batch;
              // The pure function agrees with itself on the list and its reduction...
              const state = await memoryStore.getState(name);
              const fromList = transition(
                state,
                { type: 'record', outcomes, jitter: step.jitter },
                policy,
                now,
              );
              const fromBatch = transition(
                state,
                { type: 'record', outcomes: reduced, jitter: step.jitter },
                policy,
                now,
              );
              expect(fromBatch).toEqual(fromList);
              // ...and the stores agree whichever of the two each one is given.
              await both((store) =>
                store.record(
                  name,
                  (store === memoryStore) === (step.listTo === 'memory') ? outcomes : reduced,
                  policy,
                  step.jitter,
                ),
              );
            } else if (step.kind === 'override') {
              const request =
                step.mode === null
                  ? null
                  : step.relative
                    ? { mode: step.mode, reason: step.reason, durationMs: step.durationMs }
                    : {
                        mode: step.mode,
                        reason: step.reason,
                        expiresAt: step.durationMs === null ? null : now + step.durationMs,
                      };
              await both((store) => store.override(name, request, policy));
            } else if (step.kind === 'delete') {
              await both((store) => store.deleteState(name));
            } else if (step.kind === 'set') {
              const current = (await memoryStore.getState(name)) ?? createInitialState(now);
              const data: CircuitStateData = {
                ...current,
                state: step.state,
                failureCount: step.failureCount,
                lastStateChange: now + step.aheadMs,
                openUntil: step.state === 'open' ? now + step.aheadMs + 1 : 0,
                probes: [],
                override: step.override
                  ? { mode: 'forced_open', reason: null, expiresAt: null, setAt: now }
                  : null,
              };
              await both((store) => store.setState(name, data));
            } else {
              await both((store) => store.reset(name, policy));
            }
          }
          expect(await redisStore.getState(name)).toEqual(await memoryStore.getState(name));
        },
      ),
      { numRuns: RUNS },
    );
  });
});

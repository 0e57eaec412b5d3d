import {
  boundedOpenUntil,
  CircuitOpenError,
  type CircuitStateData,
  createInitialState,
  effectiveStatus,
  isTombstone,
  resolvePolicy,
  type StoredCircuit,
} from '@xnai/cb-core';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { RedisStateStore } from '@xnai/cb-store-redis';
import { type FaultProxy, type RedisServer, startFaultProxy, startRedis, waitFor } from '@xnai/test-utils';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CircuitBreakerConfig, CircuitBreakerRegistry, type RegistryEvent } from './registry.js';

/**
 * A model-based test of the fleet: three instances (each its own connection manager through its own
 * fault proxy) on one real Redis, driven by random sequences of calls and outcomes, time steps (back
 * too), partitions of one instance (reset or blackhole) and their heal, Redis killed and restarted
 * empty, FLUSHALL, and operator actions (delete, reset, force open/closed with and without expiry,
 * clear, setState). After every heal, restart and flush it checks that the instances and Redis
 * converge, and at every step that no operator decision made through a connected instance is undone
 * by a stale one, that no connected, current instance (its view as new as Redis's copy and, after
 * Redis lost its data, the loss noticed) admits a call on an open circuit before its open period
 * ends, and that never more probes run than allowed.
 *
 * `pnpm test` runs it for a fixed budget (MODEL_BUDGET_MS); `pnpm test:chaos` (CB_CHAOS=1) for 20
 * minutes. A failure prints fast-check's seed and path: `CB_MODEL_SEED=<seed> CB_MODEL_PATH=<path>`
 * replays it.
 */
const CHAOS = process.env.CB_CHAOS === '1';
const MODEL_BUDGET_MS = CHAOS ? 20 * 60_000 : 60_000;
const CONVERGE_WITHIN_MS = 5_000;
const INSTANCES = 3;
const FAST = {
  operationTimeoutMs: 100,
  fallbackProbeIntervalMs: 50,
  recoveryThreshold: 2,
  reconnectMaxDelayMs: 100,
  connectionTimeoutMs: 1_000,
};
const CIRCUITS: Record<string, CircuitBreakerConfig> = {
  a: { failureThreshold: 2, successThreshold: 1, openTimeoutMs: 2_000, maxOpenTimeoutMs: 4_000 },
  b: {
    failureThreshold: 1,
    successThreshold: 2,
    openTimeoutMs: 800,
    maxOpenTimeoutMs: 800,
    halfOpenMaxCalls: 2,
  },
};
const NAMES = Object.keys(CIRCUITS) as Array<keyof typeof CIRCUITS & string>;
const POLICIES = Object.fromEntries(NAMES.map((name) => [name, resolvePolicy(CIRCUITS[name])]));

interface Instance {
  readonly proxy: FaultProxy;
  readonly manager: RedisConnectionManager;
  readonly registry: CircuitBreakerRegistry;
  readonly events: Array<RegistryEvent & { seenAt: number }>;
}

interface Real {
  server: RedisServer;
  observer: Redis;
  instances: Instance[];
  prefix: string;
  /** Redis time for the whole fleet (scripts take it from the clients: `useClientTime`). */
  now: number;
  read(name: string): Promise<StoredCircuit | undefined>;
}

interface Model {
  /** The instance cut off, if any. */
  partitioned: number | null;
  /** The last decision made through a connected instance, per circuit: never to be undone. */
  readonly decisions: Map<string, { decidedAt: number; kind: string; step: number }>;
  /** Steps taken, and the step at which the latest partition began. */
  step: number;
  partitionedAtStep: number;
  /**
   * The latest decision made meanwhile on a cut-off instance, per circuit: a rival that may win when
   * it is as late (two operators acting at the same moment on both sides of a partition).
   */
  readonly rivals: Map<string, number>;
  /**
   * Per instance, how many events it had told when Redis last lost its data, until it noticed the
   * loss (a reconciliation after it). Until then it may still refuse Redis's changes as older (after
   * a loss, versions start again from the clock, here frozen): the documented window of up to
   * `stateCheckIntervalMs` in which an instance acts on its own copy.
   */
  readonly lossMarks: Map<number, { events: number; triggers: readonly string[] }>;
}

type Command = fc.AsyncCommand<Model, Real>;

/** Whether instance `index` has reconciled since Redis last lost its data (see `Model.lossMarks`). */
function noticedLoss(model: Model, real: Real, index: number): boolean {
  const mark = model.lossMarks.get(index);
  if (mark === undefined) return true;
  const events = (real.instances[index] as Instance).events;
  const noticed = events
    .slice(mark.events)
    .some((event) => event.type === 'reconciled' && mark.triggers.includes(event.trigger));
  if (noticed) model.lossMarks.delete(index);
  return noticed;
}

function statusOf(stored: StoredCircuit | undefined, now: number): string {
  if (stored === undefined || isTombstone(stored)) return 'closed';
  return effectiveStatus(stored, now);
}

/** Waits until every connected instance's view shows what Redis holds, then checks the decisions. */
async function converge(model: Model, real: Real): Promise<void> {
  for (const [index, instance] of real.instances.entries()) {
    if (index === model.partitioned) continue;
    await waitFor(() => instance.manager.isConnected, {
      timeoutMs: CONVERGE_WITHIN_MS,
      message: `instance ${index} connected`,
    });
  }
  let last = '';
  await waitFor(
    async () => {
      const differences: string[] = [];
      for (const name of NAMES) {
        const stored = await real.read(name);
        for (const [index, instance] of real.instances.entries()) {
          if (index === model.partitioned) continue;
          if (instance.registry.stateManager.getFallbackStatus().fallbackStatesCount > 0) {
            differences.push(`instance ${index} still has pending circuits`);
            continue;
          }
          const view = instance.registry.get(name)?.stateData ?? createInitialState(real.now);
          const [seen, truth] = [statusOf(view, real.now), statusOf(stored, real.now)];
          if (seen !== truth)
            differences.push(`${name}: instance ${index} sees ${seen}, Redis holds ${truth}`);
        }
      }
      last = differences.join('; ');
      return differences.length === 0;
    },
    { timeoutMs: CONVERGE_WITHIN_MS, intervalMs: 20, message: 'convergence' },
  ).catch((error: unknown) => {
    throw new Error(
      `instances did not converge with Redis within ${CONVERGE_WITHIN_MS} ms: ${last} (${String(error)})`,
    );
  });
  await checkDecisions(model, real);
}

/** No decision made through a connected instance is undone: Redis's decision never goes below it. */
async function checkDecisions(model: Model, real: Real): Promise<void> {
  for (const [name, decision] of model.decisions) {
    const stored = await real.read(name);
    const decidedAt = stored?.decidedAt ?? 0;
    expect(
      decidedAt,
      `${name}: the ${decision.kind} decided at ${decision.decidedAt} was undone`,
    ).toBeGreaterThanOrEqual(decision.decidedAt);
    if (decidedAt !== decision.decidedAt) continue;
    if ((model.rivals.get(name) ?? -1) >= decision.decidedAt) continue;
    // An instance cut off after the decision knew it: what it saw next (a failure that opened the
    // circuit in its mirror) is newer evidence, merged by the newer transition. Only an instance cut
    // off before it holds older history, which must not change what the decision made.
    if (model.partitionedAtStep > decision.step) continue;
    // Still the last decision: what it made holds (a circuit deleted or reset may have counted new
    // outcomes since, which is no decision, but nothing that changed its status).
    if (stored === undefined || isTombstone(stored)) {
      expect(
        decision.kind === 'delete' || decision.kind === 'reset',
        `${name}: ${decision.kind} then nothing stored`,
      ).toBe(true);
      continue;
    }
    if (decision.kind === 'reset' || decision.kind === 'delete') {
      expect([stored.state, stored.override], `${name} after ${decision.kind}`).toEqual(['closed', null]);
    }
    if (decision.kind === 'forced_open' || decision.kind === 'forced_closed') {
      expect(stored.override?.mode, `${name} forced`).toBe(decision.kind);
    }
    if (decision.kind === 'clear') expect(stored.override, `${name} cleared`).toBeNull();
  }
}

async function probesWithinLimit(real: Real): Promise<void> {
  for (const name of NAMES) {
    const stored = await real.read(name);
    if (stored === undefined || isTombstone(stored)) continue;
    expect(stored.probes.length, `${name}: probes in flight`).toBeLessThanOrEqual(
      POLICIES[name]?.halfOpenMaxCalls ?? 1,
    );
  }
}

class CallCommand implements Command {
  constructor(
    readonly index: number,
    readonly name: string,
    readonly fails: boolean,
  ) {}
  check(): boolean {
    return true;
  }
  async run(model: Model, real: Real): Promise<void> {
    model.step += 1;
    const instance = real.instances[this.index] as Instance;
    const breaker = instance.registry.get(this.name);
    const stored = await real.read(this.name);
    // A connected instance whose view is as new as Redis must refuse a call Redis holds open.
    const current =
      this.index !== model.partitioned &&
      noticedLoss(model, real, this.index) &&
      instance.manager.isConnected &&
      stored !== undefined &&
      !isTombstone(stored) &&
      breaker !== undefined &&
      breaker.stateData.version >= stored.version;
    const mustRefuse =
      current &&
      stored !== undefined &&
      !isTombstone(stored) &&
      (statusOf(stored, real.now) === 'forced_open' ||
        (stored.override === null &&
          stored.state === 'open' &&
          real.now < boundedOpenUntil(stored, POLICIES[this.name]?.maxOpenTimeoutMs ?? 0, real.now)));
    let ran = false;
    try {
      await instance.registry.callWithCircuitBreaker(this.name, () => {
        ran = true;
        return this.fails ? Promise.reject(new Error('down')) : Promise.resolve('ok');
      });
    } catch (error) {
      if (!(error instanceof CircuitOpenError) && (error as Error).message !== 'down') throw error;
    }
    await breaker?.flush();
    if (mustRefuse)
      expect(ran, `instance ${this.index} admitted a call on open circuit ${this.name}`).toBe(false);
    await probesWithinLimit(real);
    await checkDecisions(model, real);
  }
  toString(): string {
    return `call(${this.index}, ${this.name}, ${this.fails ? 'fail' : 'ok'})`;
  }
}

class AdvanceCommand implements Command {
  constructor(readonly ms: number) {}
  check(): boolean {
    return true;
  }
  async run(_model: Model, real: Real): Promise<void> {
    real.now += this.ms;
  }
  toString(): string {
    return `advance(${this.ms})`;
  }
}

class PartitionCommand implements Command {
  constructor(
    readonly index: number,
    readonly mode: 'reset' | 'blackhole',
  ) {}
  check(model: Model): boolean {
    return model.partitioned === null;
  }
  async run(model: Model, real: Real): Promise<void> {
    model.step += 1;
    const instance = real.instances[this.index] as Instance;
    instance.proxy.setMode(this.mode);
    model.partitioned = this.index;
    model.partitionedAtStep = model.step;
    // A blackhole shows only when an operation times out: one read makes it.
    if (this.mode === 'blackhole')
      await instance.registry.stateManager.getState(NAMES[0] as string).catch(() => undefined);
    await waitFor(() => instance.manager.fallbackMode, {
      timeoutMs: 3_000,
      message: `instance ${this.index} in fallback`,
    });
  }
  toString(): string {
    return `partition(${this.index}, ${this.mode})`;
  }
}

class HealCommand implements Command {
  check(model: Model): boolean {
    return model.partitioned !== null;
  }
  async run(model: Model, real: Real): Promise<void> {
    const index = model.partitioned as number;
    const instance = real.instances[index] as Instance;
    instance.proxy.setMode('pass');
    model.partitioned = null;
    await converge(model, real);
  }
  toString(): string {
    return 'heal()';
  }
}

class DataLossCommand implements Command {
  constructor(readonly kind: 'restart' | 'flushall') {}
  check(model: Model): boolean {
    return model.partitioned === null;
  }
  async run(model: Model, real: Real): Promise<void> {
    const triggers =
      this.kind === 'flushall' ? ['state_lost'] : ['state_lost', 'recovered', 'reconnected', 'connected'];
    for (const [index, instance] of real.instances.entries())
      model.lossMarks.set(index, { events: instance.events.length, triggers });
    if (this.kind === 'flushall') {
      await real.observer.flushall();
    } else {
      await real.server.kill();
      for (const instance of real.instances) {
        await waitFor(() => instance.manager.fallbackMode, {
          timeoutMs: 3_000,
          message: 'fallback after the kill',
        });
      }
      await real.server.restart();
    }
    // Deletions (tombstones) are data too: what Redis lost no longer binds the fleet.
    model.decisions.clear();
    model.rivals.clear();
    await converge(model, real);
  }
  toString(): string {
    return this.kind;
  }
}

type OperatorAction =
  | { kind: 'delete' | 'reset' | 'clear' }
  | { kind: 'forced_open' | 'forced_closed'; durationMs: number | null }
  | { kind: 'set'; state: 'open' | 'closed' };

class OperatorCommand implements Command {
  constructor(
    readonly index: number,
    readonly name: string,
    readonly action: OperatorAction,
  ) {}
  check(): boolean {
    return true;
  }
  async run(model: Model, real: Real): Promise<void> {
    model.step += 1;
    const instance = real.instances[this.index] as Instance;
    const registry = instance.registry;
    const action = this.action;
    const before = (await real.read(this.name))?.decidedAt ?? 0;
    const mirroredBefore = registry.stateManager.memoryStore.peek(this.name)?.decidedAt ?? -1;
    const options = (durationMs: number | null) => (durationMs === null ? {} : { durationMs });
    switch (action.kind) {
      case 'delete':
        await registry.stateManager.deleteState(this.name);
        break;
      case 'reset':
        await registry.reset(this.name);
        break;
      case 'clear':
        await registry.clearOverride(this.name);
        break;
      case 'forced_open':
        await registry.forceOpen(this.name, options(action.durationMs));
        break;
      case 'forced_closed':
        await registry.forceClosed(this.name, options(action.durationMs));
        break;
      case 'set': {
        const data: CircuitStateData = {
          ...createInitialState(real.now),
          state: action.state,
          consecutiveOpens: action.state === 'open' ? 1 : 0,
          openUntil: action.state === 'open' ? real.now + 1_000 : 0,
        };
        await registry.stateManager.setState(this.name, data);
        break;
      }
    }
    const connected = this.index !== model.partitioned && instance.manager.isConnected;
    if (!connected) {
      const rival = registry.stateManager.memoryStore.peek(this.name)?.decidedAt ?? 0;
      if (rival > mirroredBefore)
        model.rivals.set(this.name, Math.max(rival, model.rivals.get(this.name) ?? 0));
    } else if (registry.stateManager.getFallbackStatus().fallbackStatesCount === 0) {
      // A decision only when it changed something (deleting a circuit that is not there does not).
      const decidedAt = (await real.read(this.name))?.decidedAt ?? 0;
      if (decidedAt > before)
        model.decisions.set(this.name, { decidedAt, kind: action.kind, step: model.step });
    }
    await checkDecisions(model, real);
  }
  toString(): string {
    return `operator(${this.index}, ${this.name}, ${JSON.stringify(this.action)})`;
  }
}

const index = fc.integer({ min: 0, max: INSTANCES - 1 });
const circuit = fc.constantFrom(...NAMES);
const call = fc
  .tuple(index, circuit, fc.boolean())
  .map(([i, name, fails]) => new CallCommand(i, name, fails));
const advance = fc
  .oneof(fc.integer({ min: 0, max: 2_500 }), fc.integer({ min: -3_000, max: -1 }))
  .map((ms) => new AdvanceCommand(ms));
const partition = fc
  .tuple(index, fc.constantFrom('reset' as const, 'blackhole' as const))
  .map(([i, mode]) => new PartitionCommand(i, mode));
const heal = fc.constant(new HealCommand());
const dataLoss = fc
  .constantFrom('restart' as const, 'flushall' as const)
  .map((kind) => new DataLossCommand(kind));
const operator = fc
  .tuple(
    index,
    circuit,
    fc.oneof(
      fc.constantFrom({ kind: 'delete' as const }, { kind: 'reset' as const }, { kind: 'clear' as const }),
      fc.record({
        kind: fc.constantFrom('forced_open' as const, 'forced_closed' as const),
        durationMs: fc.option(fc.integer({ min: 500, max: 5_000 }), { nil: null }),
      }),
      fc.record({
        kind: fc.constant('set' as const),
        state: fc.constantFrom('open' as const, 'closed' as const),
      }),
    ),
  )
  .map(([i, name, action]) => new OperatorCommand(i, name, action));
/** Weighted towards what breaks fleets: operator actions and partitions around calls. */
const commands = [
  call,
  call,
  call,
  advance,
  partition,
  partition,
  heal,
  heal,
  dataLoss,
  operator,
  operator,
  operator,
];

describe('the fleet, as a model', () => {
  let server: RedisServer;
  let observer: Redis;

  beforeAll(async () => {
    server = await startRedis({ controllable: true });
    observer = new Redis(server.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    observer.on('error', () => undefined);
    await observer.connect();
  });

  afterAll(async () => {
    observer?.disconnect();
    await server?.stop();
  });

  it(
    'converges after every fault, undoes no decision, admits nothing on an open circuit, never over-probes',
    async () => {
      let runs = 0;
      const seed = process.env.CB_MODEL_SEED === undefined ? Date.now() : Number(process.env.CB_MODEL_SEED);
      console.log(`[figures] fleet model: seed ${seed}${CHAOS ? ' (chaos budget)' : ''}`);
      await fc.assert(
        fc.asyncProperty(fc.commands(commands, { maxCommands: 24 }), async (sequence) => {
          runs += 1;
          const prefix = `model${runs}:`;
          const real: Real = {
            server,
            observer,
            instances: [],
            prefix,
            now: Date.UTC(2026, 11, 1, 12),
            read: (name) => observerStore.peek(name),
          };
          const clock = {
            now: () => real.now,
            setTimeout: (callback: () => void, delayMs: number) => {
              const timer = setTimeout(callback, delayMs);
              timer.unref();
              return timer;
            },
            clearTimeout: (handle: unknown) => clearTimeout(handle as ReturnType<typeof setTimeout>),
          };
          const observerStore = new RedisStateStore({
            redis: observer,
            keyPrefix: prefix,
            clock,
            useClientTime: true,
          });
          try {
            for (let i = 0; i < INSTANCES; i++) {
              const proxy = await startFaultProxy({ target: server });
              const manager = new RedisConnectionManager({ url: proxy.url, ...FAST });
              await manager.connect();
              const registry = new CircuitBreakerRegistry({
                redis: manager,
                keyPrefix: prefix,
                clock,
                useClientTime: true,
                stateCheckIntervalMs: 100,
                cleanupGraceMs: 0,
              });
              const events: Instance['events'] = [];
              registry.onEvent((event) => events.push({ ...event, seenAt: Date.now() }));
              for (const name of NAMES) registry.registerCircuitBreaker(name, CIRCUITS[name]);
              await Promise.all(NAMES.map((name) => registry.get(name)?.refresh()));
              await registry.stateManager.redisStore?.whenSubscribed();
              real.instances.push({ proxy, manager, registry, events });
            }
            const model: Model = {
              partitioned: null,
              decisions: new Map(),
              rivals: new Map(),
              step: 0,
              partitionedAtStep: -1,
              lossMarks: new Map(),
            };
            await fc.asyncModelRun(() => ({ model, real }), sequence);
            // Whatever the sequence left: heal and converge one last time.
            if (model.partitioned !== null) await new HealCommand().run(model, real);
            else await converge(model, real);
          } finally {
            for (const instance of real.instances) {
              await instance.registry.cleanup();
              await instance.proxy.close();
            }
            await observerStore.close();
          }
        }),
        {
          seed,
          ...(process.env.CB_MODEL_PATH === undefined ? {} : { path: process.env.CB_MODEL_PATH }),
          numRuns: CHAOS ? 100_000 : 1_000,
          interruptAfterTimeLimit: MODEL_BUDGET_MS,
          markInterruptAsFailure: false,
          endOnFailure: true,
        },
      );
      console.log(`[figures] fleet model: ${runs} runs of up to 24 commands in the budget, seed ${seed}`);
      expect(runs).toBeGreaterThan(0);
    },
    MODEL_BUDGET_MS + 120_000,
  );
});

/**
 * One process of the fleet simulation: it holds some of the fleet's instances (each a
 * CircuitBreakerRegistry with its own RedisConnectionManager, so its own connections) and drives
 * their calls. Driven over IPC by the fleet measurement (the `startIpcWorker` protocol of
 * test-utils); it prints nothing.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { CircuitBreakerRegistry } from '@xnai/cb-registry';
import {
  type AddCommand,
  type FleetWorkerConfig,
  HOT_CIRCUIT,
  type InstanceEvents,
  type InstanceStats,
  type LoadCommand,
  type PhaseReport,
} from './fleet-protocol.js';
import { LatencyHistogram } from './latency-histogram.js';
import { countSentCommands } from './sent-commands.js';

const config = JSON.parse(process.argv[2] ?? '{}') as FleetWorkerConfig;
const CONNECTION_PREFIX = 'xnai-fleet-';
/** Commands each instance's connections sent, by connection name (`xnai-fleet-<index>`). */
const sentByConnection = countSentCommands();
const connectionName = (index: number): string => `${CONNECTION_PREFIX}${index}`;
const SETTLE_QUIET_MS = 200;
const SETTLE_LIMIT_MS = 30_000;

const epochNow = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const succeed = async (): Promise<number> => 1;
const hotError = new Error('downstream failing');
const fail = async (): Promise<never> => {
  throw hotError;
};

function emptyEvents(): InstanceEvents {
  return { fallbackEntered: [], recovered: [], reconciled: [], hotTransitions: [] };
}

class Instance {
  readonly latency = new LatencyHistogram();
  readonly hotLatency = new LatencyHistogram();
  calls = 0;
  callsNotSucceeded = 0;
  hotCalls = 0;
  hotRejected = 0;
  operations: Record<string, number> = {};
  events = emptyEvents();
  credit = 0;
  hotCredit = 0;
  /** Commands this instance's connections sent since the phase began, by command. */
  sent: Record<string, number> = {};
  /** getState operations since registration began: the initial reads answered. */
  loads = 0;
  lastOperationAt = 0;

  constructor(
    readonly index: number,
    readonly registry: CircuitBreakerRegistry,
    readonly manager: RedisConnectionManager,
  ) {
    sentByConnection.set(connectionName(index), this.sent);
    registry.stateManager.onOperation((event) => {
      const key = `${event.operation}:${event.servedBy}`;
      this.operations[key] = (this.operations[key] ?? 0) + 1;
      if (event.operation === 'getState') this.loads += 1;
      this.lastOperationAt = performance.now();
    });
    registry.onEvent((event) => {
      switch (event.type) {
        case 'fallback_entered':
          this.events.fallbackEntered.push(epochNow());
          break;
        case 'recovered':
          this.events.recovered.push(epochNow());
          break;
        case 'reconciled':
          this.events.reconciled.push({
            at: epochNow(),
            trigger: event.trigger,
            merged: event.merged,
            reseeded: event.reseeded,
            failed: event.failed,
          });
          break;
        case 'state_change':
          if (event.name === HOT_CIRCUIT) this.events.hotTransitions.push({ at: epochNow(), to: event.to });
          break;
        default:
          break;
      }
    });
  }

  resetPhase(): void {
    this.latency.reset();
    this.hotLatency.reset();
    this.calls = 0;
    this.callsNotSucceeded = 0;
    this.hotCalls = 0;
    this.hotRejected = 0;
    this.operations = {};
    this.events = emptyEvents();
    this.sent = {};
    sentByConnection.set(connectionName(this.index), this.sent);
  }

  stats(): InstanceStats {
    return {
      index: this.index,
      calls: this.calls,
      callsNotSucceeded: this.callsNotSucceeded,
      latency: this.latency.summary(),
      hotCalls: this.hotCalls,
      hotRejected: this.hotRejected,
      hotLatency: this.hotLatency.summary(),
      operations: this.operations,
      sent: this.sent,
      events: this.events,
      hotStatus: this.registry.get(HOT_CIRCUIT)?.status ?? 'unregistered',
      fallbackMode: this.manager.fallbackMode,
    };
  }
}

const names = Array.from({ length: config.circuits }, (_, index) => `c${String(index).padStart(4, '0')}`);
let instances: Instance[] = [];
let load: LoadCommand = {
  callsPerSecondPerCircuit: 0,
  activeCircuits: 0,
  hot: { mode: 'off', callsPerSecond: 0, delayMs: 0 },
};
let callsBehind = 0;
let cpuAtBegin = process.cpuUsage();
const eventLoopDelay = monitorEventLoopDelay({ resolution: 10 });
eventLoopDelay.enable();

async function addInstances(command: AddCommand): Promise<{ registerMs: number; settleMs: number }> {
  let registerMs = 0;
  let settleMs = 0;
  for (let offset = 0; offset < command.count; offset += 1) {
    const index = command.firstIndex + offset;
    const manager = new RedisConnectionManager({
      url: config.redisUrl,
      maxConnections: config.maxConnections,
      connectionName: connectionName(index),
    });
    sentByConnection.set(connectionName(index), {});
    if (!(await manager.connect())) throw new Error(`instance ${index}: Redis not reachable`);
    if (Object.keys(sentByConnection.get(connectionName(index)) ?? {}).length === 0) {
      throw new Error(
        'fleet worker: the connection manager does not use this ioredis module; commands cannot be counted',
      );
    }
    const registry = new CircuitBreakerRegistry({ redis: manager, keyPrefix: command.keyPrefix });
    const instance = new Instance(index, registry, manager);
    const started = performance.now();
    const circuitConfig = command.slidingWindow === null ? {} : { slidingWindow: command.slidingWindow };
    for (const name of names) registry.registerCircuitBreaker(name, circuitConfig);
    // No backoff: however often the storm reopens it, its open period stays openTimeoutMs.
    registry.registerCircuitBreaker(HOT_CIRCUIT, {
      ...config.hot,
      maxOpenTimeoutMs: config.hot.openTimeoutMs,
    });
    const registered = performance.now();
    registerMs += registered - started;
    // Registration loads every view from Redis; let one instance's reads finish before the next
    // registers, as services start one by one, not 200 at the same millisecond.
    instance.lastOperationAt = registered;
    while (
      instance.loads < names.length + 1 &&
      performance.now() - instance.lastOperationAt < SETTLE_QUIET_MS &&
      performance.now() - registered < SETTLE_LIMIT_MS
    ) {
      await sleep(5);
    }
    settleMs += performance.now() - registered;
    instances.push(instance);
  }
  return { registerMs, settleMs };
}

function fireHot(instance: Instance): void {
  const hot = load.hot;
  const fn =
    hot.mode === 'fail'
      ? fail
      : hot.delayMs > 0
        ? () => new Promise<number>((resolve) => setTimeout(resolve, hot.delayMs, 1))
        : succeed;
  const started = performance.now();
  instance.hotCalls += 1;
  instance.registry.callWithCircuitBreaker(HOT_CIRCUIT, fn).then(
    () => instance.hotLatency.record(performance.now() - started),
    (error: unknown) => {
      instance.hotLatency.record(performance.now() - started);
      if (error !== hotError) instance.hotRejected += 1;
    },
  );
}

/** One round of the load generator: the calls each instance owes since the last round. */
async function tick(elapsedMs: number): Promise<void> {
  const hot = load.hot;
  if (hot.mode !== 'off') {
    for (const instance of instances) {
      instance.hotCredit += (hot.callsPerSecond * elapsedMs) / 1_000;
      while (instance.hotCredit >= 1) {
        instance.hotCredit -= 1;
        fireHot(instance);
      }
    }
  }
  const active = Math.min(load.activeCircuits, names.length);
  const perInstance = load.callsPerSecondPerCircuit * active;
  if (perInstance <= 0) return;
  for (const instance of instances) {
    instance.credit += (perInstance * elapsedMs) / 1_000;
    // More than a second behind: those calls are dropped and counted, not made in a burst.
    if (instance.credit > perInstance) {
      callsBehind += Math.floor(instance.credit - perInstance);
      instance.credit = perInstance;
    }
    const due = Math.floor(instance.credit);
    instance.credit -= due;
    const registry = instance.registry;
    // Calls one after the other, each awaited: the figure is the call's own latency, not a queue's.
    // Each picks a circuit at random, so every circuit sees a Poisson stream, as from real traffic
    // (a fixed rotation would march every circuit's periodic work in step).
    for (let call = 0; call < due; call += 1) {
      const name = names[Math.floor(Math.random() * active)] as string;
      const started = performance.now();
      try {
        await registry.callWithCircuitBreaker(name, succeed);
      } catch {
        instance.callsNotSucceeded += 1;
      }
      instance.latency.record(performance.now() - started);
      instance.calls += 1;
    }
  }
}

let running = true;
async function loop(): Promise<void> {
  let last = performance.now();
  while (running) {
    const now = performance.now();
    await tick(now - last);
    last = now;
    const spent = performance.now() - now;
    await sleep(Math.max(1, config.tickMs - spent));
  }
}

function report(): PhaseReport {
  const latency = new LatencyHistogram();
  const hotLatency = new LatencyHistogram();
  for (const instance of instances) {
    latency.merge(instance.latency);
    hotLatency.merge(instance.hotLatency);
  }
  const cpu = process.cpuUsage(cpuAtBegin);
  return {
    instances: instances.map((instance) => instance.stats()),
    latency: latency.toSparse(),
    hotLatency: hotLatency.toSparse(),
    cpuMs: (cpu.user + cpu.system) / 1_000,
    eventLoopDelayP99Ms: eventLoopDelay.percentile(99) / 1e6,
    callsBehind,
  };
}

async function removeAll(): Promise<void> {
  const closing = instances;
  instances = [];
  await Promise.all(closing.map((instance) => instance.registry.cleanup()));
}

type Message = { id: number; command: string } & Record<string, unknown>;

const handlers: Record<string, (message: Message) => Promise<unknown> | unknown> = {
  add: (message) => addInstances(message as unknown as AddCommand),
  load: (message) => {
    load = message.load as LoadCommand;
    return {};
  },
  begin: () => {
    for (const instance of instances) instance.resetPhase();
    callsBehind = 0;
    cpuAtBegin = process.cpuUsage();
    eventLoopDelay.reset();
    return {};
  },
  end: () => report(),
  resetHot: async () => {
    await instances[0]?.registry.reset(HOT_CIRCUIT);
    return {};
  },
  hotStatus: () => {
    const counts: Record<string, number> = {};
    for (const instance of instances) {
      const status = instance.registry.get(HOT_CIRCUIT)?.status ?? 'unregistered';
      counts[status] = (counts[status] ?? 0) + 1;
    }
    return counts;
  },
  /** Instances still in fallback mode, and those with no reconciliation since `begin`. */
  recoveryStatus: () => ({
    inFallback: instances.filter((instance) => instance.manager.fallbackMode).length,
    notReconciled: instances.filter((instance) => instance.events.reconciled.length === 0).length,
    lastReconciledAt: Math.max(
      0,
      ...instances.flatMap((instance) => instance.events.reconciled.map((event) => event.at)),
    ),
  }),
  removeAll: async () => {
    await removeAll();
    return {};
  },
  close: async () => {
    running = false;
    await removeAll();
    eventLoopDelay.disable();
    return {};
  },
};

process.on('message', (message: Message) => {
  const handler = handlers[message.command];
  Promise.resolve()
    .then(() => {
      if (handler === undefined) throw new Error(`unknown command ${message.command}`);
      return handler(message);
    })
    .then(
      (result) => process.send?.({ id: message.id, ok: true, result }),
      (error: unknown) =>
        process.send?.({
          id: message.id,
          ok: false,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        }),
    )
    .then(() => {
      if (message.command === 'close') process.disconnect();
    });
});
// Closed by the measurement, or orphaned (the parent died): release every instance and exit.
process.on('disconnect', () => {
  running = false;
  removeAll().finally(() => process.exit(0));
});

loop().catch((error: unknown) => {
  console.error('fleet worker: load loop failed', error);
  process.exit(1);
});
process.send?.({ ready: true });

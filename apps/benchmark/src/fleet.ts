import { fileURLToPath } from 'node:url';
import { type IpcWorker, type RedisServer, startIpcWorker, startRedis } from '@xnai/test-utils';
import { Redis } from 'ioredis';
import type { BenchContext } from './context.js';
import { extrapolate, type MeasuredLoad } from './fleet-extrapolation.js';
import type {
  AddCommand,
  FleetWorkerConfig,
  InstanceStats,
  LoadCommand,
  PhaseReport,
  RecoveryStatus,
} from './fleet-protocol.js';
import { median, sleep } from './harness.js';
import { LatencyHistogram, type LatencySummary } from './latency-histogram.js';
import { difference, type RedisCounters, type RedisDelta, sampleRedis, zeroCounters } from './redis-info.js';
import { type MeasurementResult, type Row, row } from './report.js';

const MEASUREMENT = '11 fleet simulation';

/** Every setting of the simulation; the command line overrides some (see cli.ts). */
export interface FleetSettings {
  /** Instances at full size; the at-rest sweep also measures a quarter and a half of it. */
  readonly instances: number;
  /** Ordinary circuits per instance (the hot circuit comes on top). */
  readonly circuits: number;
  /** Worker processes the instances are spread over. */
  readonly processes: number;
  /** Length of each at-rest and idle phase, ms. */
  readonly phaseMs: number;
  /**
   * Load before the first at-rest phase of new instances is measured, ms: long enough for the
   * start-up reads to settle and periodic work to be under way; later phases warm up 5 s at most.
   */
  readonly warmupMs: number;
  /** Calls per second on each ordinary circuit at rest. */
  readonly callsPerSecondPerCircuit: number;
  /** Calls per second on each of a tenth of the circuits in the `rest-few-fast` phase. */
  readonly fastCallsPerSecondPerCircuit: number;
  /** Instances of the sliding-window fleet (every circuit at `windowCallsPerSecond`). */
  readonly windowInstances: number;
  readonly windowCallsPerSecond: number;
  readonly windowSize: number;
  /** The hot circuit's open period, ms; the storm is measured within it. */
  readonly hotOpenTimeoutMs: number;
  readonly stormMs: number;
  /** Hot calls per second per instance in the storm. */
  readonly stormCallsPerSecond: number;
  /** Hot calls per second per instance in half-open: a low and a high rate. */
  readonly halfOpenCallsPerSecond: readonly [number, number];
  readonly halfOpenMs: number;
  /** How long an admitted probe takes (the downstream answering again), ms. */
  readonly probeDelayMs: number;
  /** Redis stays down this long, ms. */
  readonly downMs: number;
  /** Measured after Redis is back at least this long, and until every instance has reconciled. */
  readonly recoveryMs: number;
  /** ... but no longer than this, ms. */
  readonly recoveryLimitMs: number;
  readonly maxConnections: number;
  readonly tickMs: number;
}

export const FULL_FLEET: FleetSettings = Object.freeze({
  instances: 200,
  circuits: 1_000,
  processes: 4,
  phaseMs: 30_000,
  warmupMs: 40_000,
  callsPerSecondPerCircuit: 0.5,
  fastCallsPerSecondPerCircuit: 5,
  windowInstances: 4,
  windowCallsPerSecond: 10,
  windowSize: 100,
  hotOpenTimeoutMs: 5_000,
  stormMs: 3_000,
  stormCallsPerSecond: 50,
  halfOpenCallsPerSecond: [20, 200] as const,
  halfOpenMs: 6_000,
  probeDelayMs: 20,
  downMs: 3_000,
  recoveryMs: 5_000,
  recoveryLimitMs: 60_000,
  maxConnections: 4,
  tickMs: 20,
});

export const QUICK_FLEET: FleetSettings = Object.freeze({
  ...FULL_FLEET,
  instances: 4,
  circuits: 50,
  processes: 2,
  phaseMs: 250,
  warmupMs: 100,
  windowInstances: 2,
  hotOpenTimeoutMs: 500,
  stormMs: 250,
  halfOpenMs: 250,
  downMs: 300,
  recoveryMs: 300,
  recoveryLimitMs: 5_000,
});

/** Aggregates over the instances of one phase. */
export interface FleetLatency {
  /** Over every call of every instance. */
  readonly fleet: LatencySummary;
  /** The median instance's p50 and p99, and the worst instance's p99. */
  readonly instanceP50Median: number;
  readonly instanceP99Median: number;
  readonly instanceP99Max: number;
}

export interface PhaseResult {
  readonly phase: string;
  readonly label: string;
  readonly instances: number;
  readonly redis: RedisDelta;
  /** Commands per second the instances sent, per instance (counted on their connections). */
  readonly sentPerSecondPerInstance: number;
  /** Commands the instances sent, by command, summed over the instances. */
  readonly sent: Readonly<Record<string, number>>;
  /** Commands per second Redis executed (those inside scripts included), per instance. */
  readonly commandsPerSecondPerInstance: number;
  /** Share of a core Redis used, per instance. */
  readonly cpuCoresPerInstance: number;
  readonly connectedClients: number;
  readonly callsPerSecond: number;
  readonly callsNotSucceeded: number;
  readonly callsBehind: number;
  readonly latency: FleetLatency;
  readonly hotCalls: number;
  readonly hotRejected: number;
  readonly hotLatency: FleetLatency;
  /** Store operations the instances' state managers reported, summed (`record:redis`, …). */
  readonly operations: Readonly<Record<string, number>>;
  /** Hot circuit's status in the instances' views at the end. */
  readonly hotStatus: Readonly<Record<string, number>>;
  readonly workerCpuCores: number;
  readonly eventLoopDelayP99MaxMs: number;
  /** Commands per second, one figure per sample (1 s; 100 ms after a restart). */
  readonly series: ReadonlyArray<{ readonly atMs: number; readonly commandsPerSecond: number }>;
}

function settingsFor(context: BenchContext): FleetSettings {
  const base = context.quick ? QUICK_FLEET : FULL_FLEET;
  const overrides = Object.fromEntries(
    Object.entries(context.fleet).filter(([, value]) => value !== undefined),
  ) as Partial<FleetSettings>;
  const settings = { ...base, ...overrides };
  return { ...settings, processes: Math.min(settings.processes, settings.instances) };
}

const epochNow = (): number => performance.timeOrigin + performance.now();

function latencyOf(
  instances: readonly InstanceStats[],
  histograms: readonly PhaseReport['latency'][],
  pick: (stats: InstanceStats) => LatencySummary,
): FleetLatency {
  const merged = new LatencyHistogram();
  for (const histogram of histograms) merged.merge(histogram);
  const withCalls = instances.map(pick).filter((summary) => summary.count > 0);
  return {
    fleet: merged.summary(),
    instanceP50Median: median(withCalls.map((summary) => summary.p50Ms)),
    instanceP99Median: median(withCalls.map((summary) => summary.p99Ms)),
    instanceP99Max: withCalls.length === 0 ? Number.NaN : Math.max(...withCalls.map((s) => s.p99Ms)),
  };
}

function formatRate(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** A phase's figures, and every instance's own (for the events of the restart). */
interface Measured {
  readonly result: PhaseResult;
  readonly stats: InstanceStats[];
}

/** The worker processes and their instances, one Redis, and a sampler connection to it. */
class Fleet {
  readonly #workers: IpcWorker[];
  readonly #counts: number[];
  #nextIndex = 0;
  #sampler: Redis;
  readonly server: RedisServer;
  readonly #context: BenchContext;

  private constructor(server: RedisServer, workers: IpcWorker[], context: BenchContext) {
    this.server = server;
    this.#workers = workers;
    this.#counts = workers.map(() => 0);
    this.#sampler = Fleet.#samplerFor(server);
    this.#context = context;
  }

  static #samplerFor(server: RedisServer): Redis {
    const sampler = new Redis(server.url, { maxRetriesPerRequest: 1, connectionName: 'xnai-fleet-sampler' });
    // While Redis is killed on purpose it reconnects and fails; it is replaced after the restart.
    sampler.on('error', () => undefined);
    return sampler;
  }

  static async start(context: BenchContext, settings: FleetSettings): Promise<Fleet> {
    // A Redis of its own: the counters are the fleet's alone, and it can be killed and restarted.
    const server = await startRedis({ controllable: true });
    const workers: IpcWorker[] = [];
    try {
      const modulePath = fileURLToPath(new URL('./fleet-worker.js', import.meta.url));
      const config: FleetWorkerConfig = {
        redisUrl: server.url,
        circuits: settings.circuits,
        maxConnections: settings.maxConnections,
        tickMs: settings.tickMs,
        hot: {
          failureThreshold: 5,
          openTimeoutMs: settings.hotOpenTimeoutMs,
          // Probes keep succeeding without closing the circuit: half-open lasts as long as it is measured.
          successThreshold: 1_000_000,
          halfOpenMaxCalls: 1,
        },
      };
      for (let index = 0; index < settings.processes; index += 1) {
        workers.push(await startIpcWorker(modulePath, config as unknown as Record<string, unknown>));
      }
    } catch (error) {
      await Promise.all(workers.map((worker) => worker.close()));
      await server.stop();
      throw error;
    }
    return new Fleet(server, workers, context);
  }

  get size(): number {
    return this.#counts.reduce((sum, count) => sum + count, 0);
  }

  /** Adds instances until the fleet has `total`, spread evenly over the processes. */
  async grow(total: number, keyPrefix: string, slidingWindow: AddCommand['slidingWindow']): Promise<void> {
    const processes = this.#workers.length;
    const additions = this.#workers.map((_, index) => {
      const target = Math.floor(total / processes) + (index < total % processes ? 1 : 0);
      return Math.max(0, target - (this.#counts[index] as number));
    });
    await Promise.all(
      this.#workers.map(async (worker, index) => {
        const count = additions[index] as number;
        if (count === 0) return;
        const firstIndex = this.#nextIndex;
        this.#nextIndex += count;
        const command: AddCommand = { firstIndex, count, keyPrefix, slidingWindow };
        await worker.call('add', command as unknown as Record<string, unknown>);
        this.#counts[index] = (this.#counts[index] as number) + count;
      }),
    );
  }

  async removeAll(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.call('removeAll')));
    this.#counts.fill(0);
  }

  async setLoad(load: LoadCommand): Promise<void> {
    await Promise.all(
      this.#workers.map((worker) => worker.call('load', { load } as unknown as Record<string, unknown>)),
    );
  }

  async resetHot(): Promise<void> {
    await this.#workers[0]?.call('resetHot');
  }

  async hotStatus(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const part of await Promise.all(
      this.#workers.map((worker) => worker.call<Record<string, number>>('hotStatus')),
    )) {
      for (const [status, count] of Object.entries(part)) counts[status] = (counts[status] ?? 0) + count;
    }
    return counts;
  }

  sample(): Promise<RedisCounters> {
    return sampleRedis(this.#sampler);
  }

  /** A new sampler connection (after a restart). */
  reconnectSampler(): void {
    this.#sampler.disconnect();
    this.#sampler = Fleet.#samplerFor(this.server);
  }

  /** Keeps the current load on for `durationMs`, showing the command rate. */
  async warmUp(durationMs: number): Promise<void> {
    const progress = this.#context.progress;
    const deadline = performance.now() + durationMs;
    let previous = await this.sample();
    while (performance.now() < deadline) {
      await sleep(Math.min(1_000, Math.max(0, deadline - performance.now())));
      const current = await this.sample();
      const delta = difference(previous, current);
      previous = current;
      progress.update(
        `warming up, ${Math.max(0, (deadline - performance.now()) / 1_000).toFixed(0)} s left, ${formatRate(delta.commandsPerSecond)} commands/s`,
      );
    }
  }

  async begin(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.call('begin')));
  }

  async end(): Promise<PhaseReport[]> {
    return Promise.all(this.#workers.map((worker) => worker.call<PhaseReport>('end')));
  }

  /**
   * One measured phase under the current load: Redis counters before and after (sampled every
   * `sampleMs`), every instance's figures.
   */
  async measure(
    phase: string,
    label: string,
    durationMs: number,
    options: {
      /** Sampling period, ms. */
      readonly sampleMs?: number;
      /** The counters to start from (a restarted server's zeros); else a sample now. */
      readonly before?: RedisCounters;
      /** The workers' phase was begun already (so that nothing before `before` is missed). */
      readonly begun?: boolean;
      /** Once `durationMs` is over, the phase goes on until this holds (or `limitMs` is over). */
      readonly until?: () => Promise<boolean>;
      readonly limitMs?: number;
    } = {},
  ): Promise<Measured> {
    const progress = this.#context.progress;
    const sampleMs = options.sampleMs ?? 1_000;
    if (options.begun !== true) await this.begin();
    const before = options.before ?? (await this.sample());
    const started = performance.now();
    const series: Array<{ atMs: number; commandsPerSecond: number }> = [];
    let previous = before;
    let latest = before;
    for (;;) {
      const elapsed = performance.now() - started;
      if (elapsed >= durationMs) {
        if (options.until === undefined || elapsed >= (options.limitMs ?? durationMs)) break;
        if (await options.until()) break;
      }
      await sleep(elapsed >= durationMs ? sampleMs : Math.min(sampleMs, Math.max(0, durationMs - elapsed)));
      latest = await this.sample();
      const delta = difference(previous, latest);
      previous = latest;
      series.push({ atMs: latest.at - before.at, commandsPerSecond: delta.commandsPerSecond });
      progress.update(
        `${((performance.now() - started) / 1_000).toFixed(1)}/${(durationMs / 1_000).toFixed(0)} s, ${formatRate(delta.commandsPerSecond)} commands/s, Redis CPU ${(delta.cpuCores * 100).toFixed(0)} %`,
      );
    }
    const reports = await this.end();
    return {
      result: summarise(phase, label, this.size, difference(before, latest), latest, reports, series),
      stats: reports.flatMap((report) => report.instances),
    };
  }

  async recoveryStatus(): Promise<RecoveryStatus> {
    const parts = await Promise.all(
      this.#workers.map((worker) => worker.call<RecoveryStatus>('recoveryStatus')),
    );
    return {
      inFallback: parts.reduce((sum, part) => sum + part.inFallback, 0),
      notReconciled: parts.reduce((sum, part) => sum + part.notReconciled, 0),
      lastReconciledAt: Math.max(0, ...parts.map((part) => part.lastReconciledAt)),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.close()));
    this.#sampler.disconnect();
    await this.server.stop();
  }
}

function summarise(
  phase: string,
  label: string,
  instances: number,
  redis: RedisDelta,
  latest: RedisCounters,
  reports: readonly PhaseReport[],
  series: PhaseResult['series'],
): PhaseResult {
  const stats = reports.flatMap((report) => report.instances);
  const operations: Record<string, number> = {};
  const sent: Record<string, number> = {};
  const hotStatus: Record<string, number> = {};
  let calls = 0;
  let callsNotSucceeded = 0;
  let hotCalls = 0;
  let hotRejected = 0;
  for (const instance of stats) {
    calls += instance.calls;
    callsNotSucceeded += instance.callsNotSucceeded;
    hotCalls += instance.hotCalls;
    hotRejected += instance.hotRejected;
    hotStatus[instance.hotStatus] = (hotStatus[instance.hotStatus] ?? 0) + 1;
    for (const [key, count] of Object.entries(instance.operations)) {
      operations[key] = (operations[key] ?? 0) + count;
    }
    for (const [key, count] of Object.entries(instance.sent)) sent[key] = (sent[key] ?? 0) + count;
  }
  const seconds = redis.durationMs / 1_000;
  return {
    phase,
    label,
    instances,
    redis,
    sentPerSecondPerInstance:
      Object.values(sent).reduce((sum, count) => sum + count, 0) / seconds / instances,
    sent,
    commandsPerSecondPerInstance: redis.commandsPerSecond / instances,
    cpuCoresPerInstance: redis.cpuCores / instances,
    connectedClients: latest.connectedClients,
    callsPerSecond: calls / seconds,
    callsNotSucceeded,
    callsBehind: reports.reduce((sum, report) => sum + report.callsBehind, 0),
    latency: latencyOf(
      stats,
      reports.map((report) => report.latency),
      (instance) => instance.latency,
    ),
    hotCalls,
    hotRejected,
    hotLatency: latencyOf(
      stats,
      reports.map((report) => report.hotLatency),
      (instance) => instance.hotLatency,
    ),
    operations,
    hotStatus,
    workerCpuCores: reports.reduce((sum, report) => sum + report.cpuMs, 0) / redis.durationMs,
    eventLoopDelayP99MaxMs: Math.max(...reports.map((report) => report.eventLoopDelayP99Ms)),
    series,
  };
}

/** Per instance: ms from `since` to the first time `pick` lists at or after it (NaN: never). */
function firstAfter(
  stats: readonly InstanceStats[],
  since: number,
  pick: (instance: InstanceStats) => readonly number[],
): number[] {
  return stats.map((instance) => {
    const times = pick(instance).filter((at) => at >= since);
    return times.length === 0 ? Number.NaN : Math.min(...times) - since;
  });
}

/** The largest value; NaN when any is NaN (an instance for which it never happened). */
function worst(values: readonly number[]): number {
  if (values.length === 0 || values.some((value) => Number.isNaN(value))) return Number.NaN;
  return Math.max(...values);
}

function sweepSizes(settings: FleetSettings): number[] {
  const sizes = [0.25, 0.5, 1].map((share) =>
    Math.max(settings.processes, Math.round(settings.instances * share)),
  );
  return [...new Set(sizes)].filter((size) => size <= settings.instances).sort((a, b) => a - b);
}

/** What the Redis restart showed. */
export interface RestartFigures {
  readonly downMs: number;
  /** From the restart call until the new server answered PING. */
  readonly startMs: number;
  /** Per instance, from the kill to its fallback mode; NaN: it never entered it. */
  readonly fallbackMs: number[];
  readonly down: {
    readonly calls: number;
    readonly callsNotSucceeded: number;
    readonly latency: FleetLatency;
  };
  /** Per instance, from the restart to leaving fallback mode, and to the end of its last reconciliation. */
  readonly recoveredMs: number[];
  readonly reconciledMs: number[];
  /** Per instance, the circuits its last reconciliation could not reconcile (they stay pending). */
  readonly unreconciled: number[];
  readonly reconciliations: Record<string, number>;
  /** Commands the instances sent from the restart until the end of the phase, per instance. */
  readonly sentPerInstance: number;
  /** Commands Redis executed in the first `burstWindowMs` after the restart, and its highest 100 ms rate. */
  readonly burstWindowMs: number;
  readonly burstCommands: number;
  readonly peakCommandsPerSecond: number;
}

/** Later phases only change which circuits are called, or how often: a short warm-up lets that settle. */
const SHORT_WARMUP_MS = 10_000;

/**
 * N instances (default 200, each a CircuitBreakerRegistry with its own RedisConnectionManager and
 * 1,000 circuits) over several processes against one Redis of their own: Redis commands/s and CPU
 * at rest (at a quarter, half and all of N), with a tenth of the circuits active (at two call
 * rates), idle, in a failure storm of one hot circuit, through its half-open period at two call
 * rates, across a Redis restart; then a smaller fleet with a sliding window on every circuit.
 * Extrapolated to 1,000 and 10,000 instances.
 */
export async function measureFleet(context: BenchContext): Promise<MeasurementResult> {
  const settings = settingsFor(context);
  const progress = context.progress;
  const prefix = `${context.keyPrefix}fleet:`;
  const phases: PhaseResult[] = [];
  const shortWarmupMs = Math.min(settings.warmupMs, SHORT_WARMUP_MS);
  progress.step(`starting Redis and ${settings.processes} worker processes`);
  const fleet = await Fleet.start(context, settings);
  const restLoad: LoadCommand = {
    callsPerSecondPerCircuit: settings.callsPerSecondPerCircuit,
    activeCircuits: settings.circuits,
    hot: { mode: 'off', callsPerSecond: 0, delayMs: 0 },
  };
  const noCalls: LoadCommand = { ...restLoad, callsPerSecondPerCircuit: 0 };
  const run = async (phase: string, label: string, durationMs: number): Promise<Measured> => {
    progress.step(label);
    const measured = await fleet.measure(phase, label, durationMs);
    phases.push(measured.result);
    return measured;
  };
  const warm = async (label: string, durationMs: number) => {
    progress.step(label);
    await fleet.warmUp(durationMs);
  };
  try {
    // 1. At rest, growing: the same load per instance at a quarter, half and all of the fleet.
    await fleet.setLoad(restLoad);
    for (const size of sweepSizes(settings)) {
      progress.step(`registering instances up to ${size}, ${settings.circuits + 1} circuits each`);
      await fleet.grow(size, prefix, null);
      await warm(`at rest, ${size} instances`, settings.warmupMs);
      await run(`rest@${size}`, `at rest, ${size} instances`, settings.phaseMs);
    }
    const n = fleet.size;
    const rest = phases.at(-1) as PhaseResult;

    // 2. A tenth of the circuits active, at the same and at a higher rate per circuit: does the
    // cost follow the number of circuits, or the call rate?
    const fewCircuits = Math.max(1, Math.round(settings.circuits / 10));
    const fewLabel = `${fewCircuits} of ${settings.circuits} circuits active`;
    await fleet.setLoad({ ...restLoad, activeCircuits: fewCircuits });
    await warm(`at rest, ${fewLabel}`, shortWarmupMs);
    const few = await run(
      'rest-few',
      `at rest, ${fewLabel}, ${settings.callsPerSecondPerCircuit} call/s each`,
      settings.phaseMs,
    );
    await fleet.setLoad({
      ...restLoad,
      activeCircuits: fewCircuits,
      callsPerSecondPerCircuit: settings.fastCallsPerSecondPerCircuit,
    });
    await warm(`at rest, ${fewLabel} at ${settings.fastCallsPerSecondPerCircuit} calls/s`, shortWarmupMs);
    const fewFast = await run(
      'rest-few-fast',
      `at rest, ${fewLabel}, ${settings.fastCallsPerSecondPerCircuit} calls/s each`,
      settings.phaseMs,
    );

    // 3. Idle: no calls; what the instances cost by themselves (health and lost-state checks).
    await fleet.setLoad(noCalls);
    await warm('idle, no calls', shortWarmupMs);
    const idle = await run('idle', 'idle (no calls)', settings.phaseMs);

    // 4. Failure storm: the hot circuit fails on every instance. Nothing else is called, so what
    // Redis does beyond the idle rate is the storm's.
    await fleet.setLoad({
      ...noCalls,
      hot: { mode: 'fail', callsPerSecond: settings.stormCallsPerSecond, delayMs: 0 },
    });
    const storm = await run('storm', 'failure storm on the hot circuit', settings.stormMs);

    // 5. Half-open: once the open period is over every instance keeps calling the hot circuit (and
    // nothing else); probes succeed after probeDelayMs without closing it. The calls go on at the
    // low rate until every instance sees the circuit half-open.
    const probing = (rate: number): LoadCommand => ({
      ...noCalls,
      hot: { mode: 'succeed', callsPerSecond: rate, delayMs: settings.probeDelayMs },
    });
    await fleet.setLoad(probing(settings.halfOpenCallsPerSecond[0]));
    progress.step('calling the hot circuit until every instance sees it half-open');
    const halfOpenBy = performance.now() + 3 * settings.hotOpenTimeoutMs + 5_000;
    let hotStatus = await fleet.hotStatus();
    while ((hotStatus.half_open ?? 0) < n && performance.now() < halfOpenBy) {
      await sleep(100);
      hotStatus = await fleet.hotStatus();
    }
    const halfOpen: PhaseResult[] = [];
    for (const rate of settings.halfOpenCallsPerSecond) {
      await fleet.setLoad(probing(rate));
      await sleep(Math.min(1_000, settings.halfOpenMs / 2));
      const label = `half-open, ${rate} hot calls/s per instance`;
      halfOpen.push((await run(`half-open-${rate}`, label, settings.halfOpenMs)).result);
    }
    await fleet.setLoad(noCalls);
    await fleet.resetHot();

    // 6. Redis killed under the at-rest load, down for downMs, started again on the same port.
    await fleet.setLoad(restLoad);
    await warm('at rest before the Redis restart', shortWarmupMs);
    progress.step(`Redis killed for ${(settings.downMs / 1_000).toFixed(1)} s`);
    await fleet.begin();
    const killedAt = epochNow();
    await fleet.server.kill();
    await sleep(settings.downMs);
    const down = await fleet.end();
    const downStats = down.flatMap((report) => report.instances);
    progress.step('Redis restarted: until every instance is out of fallback and reconciled');
    await fleet.begin();
    const restartedAt = epochNow();
    await fleet.server.restart();
    const startMs = epochNow() - restartedAt;
    fleet.reconnectSampler();
    const recovery = await fleet.measure('restart', 'after the Redis restart', settings.recoveryMs, {
      sampleMs: 100,
      before: zeroCounters(restartedAt),
      begun: true,
      limitMs: settings.recoveryLimitMs,
      until: async () => {
        const status = await fleet.recoveryStatus();
        return (
          status.inFallback === 0 &&
          status.notReconciled === 0 &&
          epochNow() - status.lastReconciledAt >= 1_000
        );
      },
    });
    phases.push(recovery.result);
    const burstWindowMs = 2_000;
    let burstCommands = 0;
    let previousAt = 0;
    for (const sample of recovery.result.series) {
      if (sample.atMs > burstWindowMs) break;
      burstCommands += (sample.commandsPerSecond * (sample.atMs - previousAt)) / 1_000;
      previousAt = sample.atMs;
    }
    const reconciliations: Record<string, number> = {};
    for (const event of recovery.stats.flatMap((instance) => instance.events.reconciled)) {
      reconciliations[event.trigger] = (reconciliations[event.trigger] ?? 0) + 1;
    }
    const restart: RestartFigures = {
      downMs: settings.downMs,
      startMs,
      fallbackMs: firstAfter(downStats, killedAt, (instance) => instance.events.fallbackEntered),
      down: {
        calls: downStats.reduce((sum, instance) => sum + instance.calls, 0),
        callsNotSucceeded: downStats.reduce((sum, instance) => sum + instance.callsNotSucceeded, 0),
        latency: latencyOf(
          downStats,
          down.map((report) => report.latency),
          (instance) => instance.latency,
        ),
      },
      recoveredMs: firstAfter(recovery.stats, restartedAt, (instance) => instance.events.recovered),
      reconciledMs: recovery.stats.map((instance) => {
        const last = instance.events.reconciled.at(-1);
        return last === undefined ? Number.NaN : last.at - restartedAt;
      }),
      unreconciled: recovery.stats.map((instance) => instance.events.reconciled.at(-1)?.failed ?? 0),
      reconciliations,
      sentPerInstance: (recovery.result.sentPerSecondPerInstance * recovery.result.redis.durationMs) / 1_000,
      burstWindowMs,
      burstCommands,
      peakCommandsPerSecond: Math.max(0, ...recovery.result.series.map((sample) => sample.commandsPerSecond)),
    };

    // 7. The sliding-window fleet: a count window on every circuit, windowCallsPerSecond on each.
    await fleet.setLoad(noCalls);
    progress.step('removing the fleet');
    await fleet.removeAll();
    progress.step(`registering the sliding-window fleet: ${settings.windowInstances} instances`);
    await fleet.grow(settings.windowInstances, `${prefix}window:`, {
      type: 'count',
      size: settings.windowSize,
    });
    await fleet.setLoad({ ...restLoad, callsPerSecondPerCircuit: settings.windowCallsPerSecond });
    await warm(`sliding windows, ${settings.windowInstances} instances`, settings.warmupMs);
    const windowed = await run(
      'rest-window',
      `sliding windows, ${settings.windowInstances} instances, ${settings.windowCallsPerSecond} calls/s per circuit`,
      settings.phaseMs,
    );
    await fleet.setLoad(noCalls);

    return buildResult({
      settings,
      n,
      rest,
      few: few.result,
      fewFast: fewFast.result,
      idle: idle.result,
      storm: storm.result,
      halfOpen,
      windowed: windowed.result,
      phases,
      restart,
    });
  } finally {
    progress.step('stopping the workers and Redis');
    await fleet.close();
  }
}

interface Collected {
  readonly settings: FleetSettings;
  readonly n: number;
  readonly rest: PhaseResult;
  readonly few: PhaseResult;
  readonly fewFast: PhaseResult;
  readonly idle: PhaseResult;
  readonly storm: PhaseResult;
  readonly halfOpen: readonly PhaseResult[];
  readonly windowed: PhaseResult;
  readonly phases: readonly PhaseResult[];
  readonly restart: RestartFigures;
}

/** Operation timeout of the connection manager (its default): no call waits longer. */
const OPERATION_TIMEOUT_MS = 250;

/** Commands sent per second per instance beyond what the idle fleet sends: one circuit's share. */
function beyondIdle(phase: PhaseResult, idle: PhaseResult): number {
  return phase.sentPerSecondPerInstance - idle.sentPerSecondPerInstance;
}

function loadOf(key: string, label: string, phase: PhaseResult): MeasuredLoad {
  return {
    key,
    label,
    instances: phase.instances,
    commandsPerSecond: phase.sentPerSecondPerInstance * phase.instances,
    executedPerSecond: phase.redis.commandsPerSecond,
    cpuCores: phase.redis.cpuCores,
  };
}

function buildResult(collected: Collected): MeasurementResult {
  const { settings, n, rest, few, fewFast, idle, storm, halfOpen, windowed, phases, restart } = collected;
  const rows: Row[] = [];
  const commandsRow = (id: string, subject: string, value: number, target?: number): Row =>
    row({
      id,
      measurement: MEASUREMENT,
      subject,
      value,
      unit: 'cmd/s',
      ...(target === undefined ? {} : { target: `<= ${target}/s`, met: value <= target }),
    });
  rows.push(
    commandsRow(
      'fleet.rest.sent',
      `at rest, ${n} instances × ${settings.circuits} active circuits: commands sent per instance`,
      rest.sentPerSecondPerInstance,
      2,
    ),
    commandsRow(
      'fleet.rest.executed',
      'at rest: commands Redis executed per instance (those inside scripts included)',
      rest.commandsPerSecondPerInstance,
    ),
    row({
      id: 'fleet.rest.cpu',
      measurement: MEASUREMENT,
      subject: `at rest, ${n} instances: Redis CPU`,
      value: rest.redis.cpuCores * 100,
      unit: '% core',
    }),
    row({
      id: 'fleet.rest.p99',
      measurement: MEASUREMENT,
      subject: `at rest: call latency p99 of the median instance (p50 ${formatMs(rest.latency.instanceP50Median)}, worst instance's p99 ${formatMs(rest.latency.instanceP99Max)})`,
      value: rest.latency.instanceP99Median * 1_000,
      unit: 'µs',
    }),
    commandsRow(
      'fleet.rest-few.sent',
      `at rest, ${few.label.replace('at rest, ', '')}: commands sent per instance`,
      few.sentPerSecondPerInstance,
    ),
    commandsRow(
      'fleet.rest-few-fast.sent',
      `at rest, ${fewFast.label.replace('at rest, ', '')}: commands sent per instance`,
      fewFast.sentPerSecondPerInstance,
    ),
    commandsRow(
      'fleet.idle.sent',
      'idle (no calls): commands sent per instance',
      idle.sentPerSecondPerInstance,
    ),
    commandsRow(
      'fleet.window.sent',
      `count window ${settings.windowSize} on every circuit, ${settings.windowCallsPerSecond} calls/s each, ${windowed.instances} instances: commands sent per instance`,
      windowed.sentPerSecondPerInstance,
      50,
    ),
    commandsRow(
      'fleet.window.executed',
      'sliding windows: commands Redis executed per instance (those inside scripts included)',
      windowed.commandsPerSecondPerInstance,
    ),
    commandsRow(
      'fleet.storm.sent',
      `failure storm on one circuit, ${settings.stormCallsPerSecond} calls/s per instance: commands sent per instance beyond idle`,
      beyondIdle(storm, idle),
    ),
    row({
      id: 'fleet.storm.hot-p99',
      measurement: MEASUREMENT,
      subject: 'failure storm: hot circuit call latency p99, worst instance',
      value: storm.hotLatency.instanceP99Max,
      unit: 'ms',
    }),
  );
  for (const [index, phase] of halfOpen.entries()) {
    const rate = settings.halfOpenCallsPerSecond[index] as number;
    const key = index === 0 ? 'low' : 'high';
    rows.push(
      commandsRow(
        `fleet.half-open.${key}`,
        `half-open, ${rate} calls/s per instance: commands sent per instance for the circuit, beyond idle (${phase.hotStatus.half_open ?? 0} of ${phase.instances} instances saw it half-open at the end)`,
        beyondIdle(phase, idle),
        20,
      ),
      commandsRow(
        `fleet.half-open.${key}.executed`,
        `half-open, ${rate} calls/s per instance: commands Redis executed per instance beyond idle`,
        phase.commandsPerSecondPerInstance - idle.commandsPerSecondPerInstance,
      ),
    );
  }
  const fallbackMax = worst(restart.fallbackMs);
  const reconciledMax = worst(restart.reconciledMs);
  const unreconciled = restart.unreconciled.reduce((sum, count) => sum + count, 0);
  const downLatency = restart.down.latency.fleet;
  rows.push(
    row({
      id: 'fleet.restart.fallback',
      measurement: MEASUREMENT,
      subject: 'Redis killed: until every instance is in fallback mode',
      value: fallbackMax,
      unit: 'ms',
      target: `<= ${OPERATION_TIMEOUT_MS} ms`,
      met: fallbackMax <= OPERATION_TIMEOUT_MS,
    }),
    row({
      id: 'fleet.restart.down-max',
      measurement: MEASUREMENT,
      subject: `Redis down: longest call (p99 ${formatMs(downLatency.p99Ms)}; ${restart.down.callsNotSucceeded} of ${restart.down.calls} calls failed)`,
      value: downLatency.maxMs,
      unit: 'ms',
      target: `<= ${OPERATION_TIMEOUT_MS} ms`,
      met: downLatency.maxMs <= OPERATION_TIMEOUT_MS,
    }),
    row({
      id: 'fleet.restart.recovered',
      measurement: MEASUREMENT,
      subject: 'Redis back: until every instance left fallback mode',
      value: worst(restart.recoveredMs),
      unit: 'ms',
    }),
    row({
      id: 'fleet.restart.reconciled',
      measurement: MEASUREMENT,
      subject: `Redis back: until every instance has reconciled (${unreconciled} circuits left unreconciled)`,
      value: reconciledMax,
      unit: 'ms',
      target: '<= 2000 ms, none left',
      met: reconciledMax <= 2_000 && unreconciled === 0,
      remedy:
        'reconciliation started at a jittered moment per instance (200 instances now start together on 2 cores, and reads that time out in that storm are left for a later run), and no read at all of circuits whose mirrored copy is a fresh closed circuit with nothing pending (what the first reads after a restart mostly find)',
    }),
    row({
      id: 'fleet.restart.sent',
      measurement: MEASUREMENT,
      subject: `Redis back: commands sent per instance until reconciled (Redis peak ${formatRate(restart.peakCommandsPerSecond)} commands/s)`,
      value: restart.sentPerInstance,
      unit: 'commands',
    }),
  );
  const extrapolation = extrapolate(
    [
      loadOf('rest', `at rest, ${settings.circuits} circuits per instance`, rest),
      loadOf('window', `sliding windows, ${settings.windowCallsPerSecond} calls/s per circuit`, windowed),
      loadOf('idle', 'idle (no calls)', idle),
    ],
    [1_000, 10_000],
  );
  for (const line of extrapolation.lines) {
    if (line.key === 'idle') continue;
    for (const point of line.points) {
      rows.push(
        row({
          id: `fleet.extrapolated.${line.key}.${point.instances}`,
          measurement: MEASUREMENT,
          subject: `${line.label}: Redis CPU at ${point.instances.toLocaleString('en-US')} instances (extrapolated)`,
          value: point.cpuCores * 100,
          unit: '% core',
          target: '<= 100 % (one core)',
          met: point.holds,
          remedy: point.holds
            ? null
            : 'fewer window writes per instance (a larger batch per circuit, sent less often than the 40 per second budget allows), and a cheaper record script (see the store round trip rows)',
        }),
      );
    }
  }
  const saturated = phases.filter((phase) => phase.redis.cpuCores > 0.8).map((phase) => phase.phase);
  return {
    rows,
    raw: {
      settings,
      sweep: phases
        .filter((phase) => phase.phase.startsWith('rest@'))
        .map((phase) => ({
          instances: phase.instances,
          commandsPerSecond: phase.sentPerSecondPerInstance * phase.instances,
          executedPerSecond: phase.redis.commandsPerSecond,
          cpuCores: phase.redis.cpuCores,
        })),
      phases,
      restart,
      extrapolation,
    },
    notes: [
      `fleet: ${n} instances (CircuitBreakerRegistry, each with its own RedisConnectionManager, maxConnections ${settings.maxConnections}) in ${settings.processes} processes on this machine, ${settings.circuits} circuits each plus one hot circuit, against a redis-server of their own; at rest each circuit takes ${settings.callsPerSecondPerCircuit} call/s on average (${formatRate(settings.callsPerSecondPerCircuit * settings.circuits * n)} calls/s in all, circuits picked at random, each call awaited and timed). "Sent" counts the commands on the instances' own connections; "executed" is Redis's INFO commandstats (the commands scripts run inside included, the sampler's INFO left out); CPU is used_cpu_user + used_cpu_sys.${saturated.length > 0 ? ` Redis used more than 80 % of a core in: ${saturated.join(', ')} (figures there are bounded by Redis).` : ''}`,
      `fleet half-open: the hot circuit (failureThreshold 5, openTimeoutMs ${settings.hotOpenTimeoutMs}, halfOpenMaxCalls 1, successThreshold 1,000,000 so that it stays half-open while measured) is called by every instance and nothing else is; a probe takes ${settings.probeDelayMs} ms. The storm also calls only the hot circuit.`,
      `fleet extrapolation: ${extrapolation.formula}`,
    ],
  };
}

function formatMs(ms: number): string {
  return ms < 1 ? `${(ms * 1_000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`;
}

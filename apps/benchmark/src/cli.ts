import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedis } from '@xnai/test-utils';
import { measureCallPaths } from './call-paths.js';
import { measureClosedMemory } from './closed-memory.js';
import { measureClosedRedis } from './closed-redis.js';
import { type BenchContext, createContext, type FleetOverrides } from './context.js';
import { measureFailoverTimeline } from './failover-timeline.js';
import { measureFleet } from './fleet.js';
import { measureFlushCost } from './flush-cost.js';
import { collectGarbage } from './harness.js';
import { measureIdleBreaker } from './idle-breaker.js';
import { measureMetricsOverhead } from './metrics-overhead.js';
import { measureNaiveBaseline } from './naive-baseline.js';
import { measureOpenPath } from './open-path.js';
import { PEER_VERSIONS } from './peers.js';
import { createProgress } from './progress.js';
import { measurePropagation } from './propagation.js';
import { measureRegistryScale } from './registry-scale.js';
import { formatTable, type MeasurementResult, type Row } from './report.js';
import { type BenchResults, writeReport } from './report-files.js';
import { measureStoreRoundTrip } from './store-round-trip.js';

const RESULTS = resolve(dirname(fileURLToPath(import.meta.url)), '../results');

const USAGE = `Usage: node --expose-gc dist/cli.js [options]

Measures the numbers of DESIGN §8 side by side in one run and prints them as ratios.
  --quick              small counts and a tiny fleet: every measurement in seconds
  --only <keys>        only these measurements (comma-separated keys, listed below)
  --fleet              only the fleet simulation and the failover timeline (= --only fleet,failover)
  --report             also write results/REPORT.md and its SVG charts from this run
  --report-from <file> write REPORT.md and the charts from an earlier run's JSON; measures nothing
  --out <file>         where to write every raw figure as JSON (default: results/latest.json)
Fleet simulation (defaults: full run / --quick):
  --instances <n>      instances (200 / 4); the at-rest sweep also runs a quarter and a half of them
  --circuits <n>       circuits per instance besides the hot one (1000 / 50)
  --processes <n>      worker processes the instances are spread over (4 / 2)
  --phase-ms <ms>      length of each at-rest and idle phase (30000 / 250)
  --warmup-ms <ms>     load before new instances are measured (40000 / 100)
  --calls-per-circuit <n>  calls per second on each circuit at rest (0.5)
  --window-instances <n>   instances of the sliding-window fleet (4 / 2)
  --down-ms <ms>       how long Redis stays killed in the fleet's restart (3000 / 300)
Redis: REDIS_URL when set, else a redis-server from PATH started on a free port. The fleet and the
failover timeline always start redis-servers of their own (they kill and restart them).
Measurements: MEASUREMENT_KEYS`;

const MEASUREMENTS: ReadonlyArray<{
  readonly key: string;
  readonly run: (context: BenchContext) => Promise<MeasurementResult>;
}> = [
  { key: 'closedMemory', run: measureClosedMemory },
  { key: 'callPaths', run: measureCallPaths },
  { key: 'metricsOverhead', run: measureMetricsOverhead },
  { key: 'openPath', run: measureOpenPath },
  { key: 'idleBreaker', run: measureIdleBreaker },
  { key: 'closedRedis', run: measureClosedRedis },
  { key: 'naiveBaseline', run: measureNaiveBaseline },
  { key: 'storeRoundTrip', run: measureStoreRoundTrip },
  { key: 'propagation', run: measurePropagation },
  { key: 'registryScale', run: measureRegistryScale },
  { key: 'flushCost', run: measureFlushCost },
  { key: 'failover', run: measureFailoverTimeline },
  { key: 'fleet', run: measureFleet },
];

interface Arguments {
  readonly quick: boolean;
  readonly out: string;
  readonly only: ReadonlySet<string> | null;
  readonly report: boolean;
  readonly reportFrom: string | null;
  readonly fleet: FleetOverrides;
}

function fail(message: string): never {
  console.error(`${message}\n\n${usage()}`);
  process.exit(2);
}

function usage(): string {
  return USAGE.replace('MEASUREMENT_KEYS', MEASUREMENTS.map((measurement) => measurement.key).join(', '));
}

const FLEET_FLAGS: Readonly<Record<string, keyof FleetOverrides>> = {
  '--instances': 'instances',
  '--circuits': 'circuits',
  '--processes': 'processes',
  '--phase-ms': 'phaseMs',
  '--warmup-ms': 'warmupMs',
  '--calls-per-circuit': 'callsPerSecondPerCircuit',
  '--window-instances': 'windowInstances',
  '--down-ms': 'downMs',
};

function parseArguments(argv: readonly string[]): Arguments {
  let quick = false;
  let out = resolve(RESULTS, 'latest.json');
  let only: Set<string> | null = null;
  let report = false;
  let reportFrom: string | null = null;
  const fleet: Record<string, number> = {};
  const valueAfter = (index: number, flag: string): string => {
    const value = argv[index + 1];
    if (value === undefined || value.startsWith('--')) fail(`${flag} needs a value`);
    return value;
  };
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index] as string;
    // pnpm passes the `--` of `pnpm bench -- --quick` through.
    if (argument === '--') continue;
    if (argument === '--quick') quick = true;
    else if (argument === '--report') report = true;
    else if (argument === '--fleet') only = new Set([...(only ?? []), 'fleet', 'failover']);
    else if (argument === '--out') {
      out = resolve(valueAfter(index, argument));
      index += 1;
    } else if (argument === '--report-from') {
      reportFrom = resolve(valueAfter(index, argument));
      index += 1;
    } else if (argument === '--only') {
      const keys = valueAfter(index, argument).split(',').filter(Boolean);
      const unknown = keys.filter((key) => !MEASUREMENTS.some((measurement) => measurement.key === key));
      if (unknown.length > 0) fail(`--only: unknown measurement ${JSON.stringify(unknown[0])}`);
      only = new Set([...(only ?? []), ...keys]);
      index += 1;
    } else if (FLEET_FLAGS[argument] !== undefined) {
      const text = valueAfter(index, argument);
      const value = Number(text);
      if (argument === '--calls-per-circuit') {
        if (!Number.isFinite(value) || value <= 0) fail(`${argument} must be a positive number, got ${text}`);
      } else if (!Number.isInteger(value) || value < 1) {
        fail(`${argument} must be a positive integer, got ${text}`);
      }
      fleet[FLEET_FLAGS[argument]] = value;
      index += 1;
    } else if (argument === '--help' || argument === '-h') {
      console.log(usage());
      process.exit(0);
    } else {
      fail(`unknown argument ${JSON.stringify(argument)}`);
    }
  }
  return { quick, out, only, report, reportFrom, fleet };
}

async function main(): Promise<void> {
  const options = parseArguments(process.argv.slice(2));
  if (options.reportFrom !== null) {
    const results = JSON.parse(readFileSync(options.reportFrom, 'utf8')) as BenchResults;
    const written = writeReport(results, RESULTS);
    console.log(`wrote ${written.join(', ')}`);
    return;
  }
  collectGarbage();
  const startedAt = new Date();
  const started = performance.now();
  const progress = createProgress();
  const server = await startRedis();
  const context = createContext(options.quick, server.url, { progress, fleet: options.fleet });
  const rows: Row[] = [];
  const notes: string[] = [];
  const raw: Record<string, unknown> = {};
  let redisVersion = 'unknown';
  const selected = MEASUREMENTS.filter(
    (measurement) => options.only === null || options.only.has(measurement.key),
  );
  try {
    const info = await context.createClient().info('server');
    redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    console.log(
      `@xnai/benchmark ${options.quick ? '--quick' : 'full'} run: Node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), Redis ${redisVersion} (${server.backend}), cockatiel ${PEER_VERSIONS.cockatiel}, opossum ${PEER_VERSIONS.opossum}`,
    );
    for (const [index, measurement] of selected.entries()) {
      const measurementStarted = performance.now();
      progress.begin(`${measurement.key} (${index + 1}/${selected.length})`);
      const result = await measurement.run(context);
      progress.end();
      rows.push(...result.rows);
      notes.push(...result.notes);
      raw[measurement.key] = { ...result.raw, durationMs: performance.now() - measurementStarted };
    }
  } finally {
    context.close();
    await server.stop();
  }
  const durationMs = performance.now() - started;
  console.log('');
  console.log(formatTable(rows));
  console.log('');
  for (const note of notes) console.log(`- ${note}`);
  const judged = rows.filter((entry) => entry.met !== null);
  const missed = judged.filter((entry) => entry.met === false);
  console.log('');
  console.log(
    `${judged.length - missed.length} of ${judged.length} targets met; ${(durationMs / 1_000).toFixed(1)} s; raw figures in ${options.out}`,
  );
  const results: BenchResults = {
    startedAt: startedAt.toISOString(),
    mode: options.quick ? 'quick' : 'full',
    measurements: selected.map((measurement) => measurement.key),
    durationMs,
    environment: {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpus: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryBytes: totalmem(),
      redis: { version: redisVersion, backend: server.backend },
      peers: PEER_VERSIONS,
    },
    rows,
    notes,
    raw,
  };
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(results, null, 2)}\n`);
  if (options.report) {
    const written = writeReport(results, RESULTS);
    console.log(`wrote ${written.join(', ')}`);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

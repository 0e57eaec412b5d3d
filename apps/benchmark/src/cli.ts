import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedis } from '@xnai/test-utils';
import { measureCallPaths } from './call-paths.js';
import { measureClosedMemory } from './closed-memory.js';
import { measureClosedRedis } from './closed-redis.js';
import { type BenchContext, createContext } from './context.js';
import { measureFlushCost } from './flush-cost.js';
import { collectGarbage } from './harness.js';
import { measureIdleBreaker } from './idle-breaker.js';
import { measureMetricsOverhead } from './metrics-overhead.js';
import { measureOpenPath } from './open-path.js';
import { PEER_VERSIONS } from './peers.js';
import { measurePropagation } from './propagation.js';
import { measureRegistryScale } from './registry-scale.js';
import { formatTable, type MeasurementResult, type Row } from './report.js';
import { measureStoreRoundTrip } from './store-round-trip.js';

const USAGE = `Usage: node --expose-gc dist/cli.js [--quick] [--out <file>]

Measures the numbers of DESIGN §8 side by side in one run and prints them as ratios.
  --quick       small iteration counts (seconds instead of minutes)
  --out <file>  where to write every raw figure as JSON (default: results/latest.json)
Redis: REDIS_URL when set, else a redis-server from PATH started on a free port.`;

interface Arguments {
  readonly quick: boolean;
  readonly out: string;
}

function parseArguments(argv: readonly string[]): Arguments {
  let quick = false;
  let out = resolve(dirname(fileURLToPath(import.meta.url)), '../results/latest.json');
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index];
    // pnpm passes the `--` of `pnpm bench -- --quick` through.
    if (argument === '--') continue;
    if (argument === '--quick') quick = true;
    else if (argument === '--out' && argv[index + 1] !== undefined) {
      out = resolve(argv[index + 1] as string);
      index += 1;
    } else if (argument === '--help' || argument === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else {
      console.error(`unknown argument ${JSON.stringify(argument)}\n\n${USAGE}`);
      process.exit(2);
    }
  }
  return { quick, out };
}

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
  { key: 'storeRoundTrip', run: measureStoreRoundTrip },
  { key: 'propagation', run: measurePropagation },
  { key: 'registryScale', run: measureRegistryScale },
  { key: 'flushCost', run: measureFlushCost },
];

async function main(): Promise<void> {
  const options = parseArguments(process.argv.slice(2));
  collectGarbage();
  const startedAt = new Date();
  const started = performance.now();
  const server = await startRedis();
  const context = createContext(options.quick, server.url);
  const rows: Row[] = [];
  const notes: string[] = [];
  const raw: Record<string, unknown> = {};
  let redisVersion = 'unknown';
  try {
    const info = await context.createClient().info('server');
    redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    console.log(
      `@xnai/benchmark ${options.quick ? '--quick' : 'full'} run: Node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), Redis ${redisVersion} (${server.backend}), cockatiel ${PEER_VERSIONS.cockatiel}, opossum ${PEER_VERSIONS.opossum}`,
    );
    for (const measurement of MEASUREMENTS) {
      const measurementStarted = performance.now();
      process.stderr.write(`  measuring ${measurement.key} ...`);
      const result = await measurement.run(context);
      const seconds = (performance.now() - measurementStarted) / 1_000;
      process.stderr.write(` ${seconds.toFixed(1)} s\n`);
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
  const missed = rows.filter((entry) => entry.met === false);
  console.log('');
  console.log(
    `${rows.filter((entry) => entry.met !== null).length - missed.length} of ${rows.filter((entry) => entry.met !== null).length} targets met; ${(durationMs / 1_000).toFixed(1)} s; raw figures in ${options.out}`,
  );
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(
    options.out,
    `${JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        mode: options.quick ? 'quick' : 'full',
        durationMs,
        environment: {
          node: process.version,
          platform: `${process.platform} ${process.arch}`,
          cpus: availableParallelism(),
          cpuModel: cpus()[0]?.model ?? 'unknown',
          redis: { version: redisVersion, backend: server.backend },
          peers: PEER_VERSIONS,
        },
        rows,
        notes,
        raw,
      },
      null,
      2,
    )}\n`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

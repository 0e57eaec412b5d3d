import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const cli = resolve(import.meta.dirname, '../dist/cli.js');
const directory = mkdtempSync(join(tmpdir(), 'xnai-bench-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** Every row the benchmark must produce; a measurement that silently stops reporting fails here. */
const EXPECTED_ROWS = [
  'closed-memory.bare',
  'closed-memory.ours',
  'closed-memory.cockatiel',
  'closed-memory.opossum',
  'closed-redis.memory',
  'closed-redis.redis',
  'open.ours',
  'open.ours-fallback',
  'open.cockatiel',
  'open.opossum',
  'idle.ours.bytes',
  'idle.ours.timers',
  'idle.ours-unused.bytes',
  'idle.ours-unused.timers',
  'idle.cockatiel.bytes',
  'idle.cockatiel.timers',
  'idle.opossum.bytes',
  'idle.opossum.timers',
  'registry.bytes',
  'registry.register',
  'registry.settled',
  'registry.fallback',
  'registry.reads-from-memory',
  'round-trip.evalsha',
  'round-trip.record',
  'round-trip.server-evalsha',
  'round-trip.server-record',
  'round-trip.server-acquire',
  'round-trip.server-get-state',
  'round-trip.record-managed',
  'propagation.p50',
  'propagation.p99',
  'propagation.max',
  ...['', '.after-gc'].flatMap((suffix) =>
    [
      'bare',
      'plain',
      'breaker-signal',
      'registry',
      'cockatiel',
      'signal-plain',
      'signal-registry',
      'signal-registry-vs-plain',
      'cockatiel-signal',
      'timeout-plain',
      'timeout-registry',
      'cockatiel-timeout',
      'events-one',
    ].map((id) => `call.${id}${suffix}`),
  ),
  'call.timeout-inflight-5000',
  'metrics.none',
  'metrics.listener',
  'metrics.prometheus',
  'metrics.opentelemetry',
  'metrics.prometheus-above-listener',
  ...['plain', 'registry', 'registry-signal', 'registry-timeout'].map((key) => `retained.${key}`),
  ...['count-10000', 'time-60s'].flatMap((window) =>
    [10_000, 100_000, 1_000_000].map((rate) => `flush.${window}.${rate}`),
  ),
  ...['bare', 'ours', 'naive', 'ours.commands', 'naive.commands'].map((key) => `naive.${key}`),
  ...[
    'rest.sent',
    'rest.executed',
    'rest.cpu',
    'rest.p99',
    'rest-few.sent',
    'rest-few-fast.sent',
    'idle.sent',
    'window.sent',
    'window.executed',
    'storm.sent',
    'storm.hot-p99',
    'half-open.low',
    'half-open.low.executed',
    'half-open.high',
    'half-open.high.executed',
    'restart.fallback',
    'restart.down-max',
    'restart.recovered',
    'restart.reconciled',
    'restart.sent',
    'extrapolated.rest.1000',
    'extrapolated.rest.10000',
    'extrapolated.window.1000',
    'extrapolated.window.10000',
  ].map((key) => `fleet.${key}`),
  ...['fallback', 'throughput', 'p99', 'max', 'recovered', 'reconciled'].map((key) => `failover.${key}`),
];

interface Row {
  id: string;
  value: number;
  ratio: number | null;
  target: string | null;
  met: boolean | null;
}

// Checks that the quick mode runs every measurement and reports finite figures. It asserts nothing
// about speed: whether a target is met is the benchmark's output, not a test result.
describe('benchmark --quick', () => {
  it('exits 0 and reports every measurement with finite figures', async () => {
    const out = join(directory, 'quick.json');
    const { stdout, stderr } = await run(process.execPath, ['--expose-gc', cli, '--quick', '--out', out], {
      // Every measurement, the fleet's processes and Redis restarts included, on a shared 2-core machine.
      timeout: 150_000,
    });
    const report = JSON.parse(readFileSync(out, 'utf8')) as { mode: string; rows: Row[] };
    expect(report.mode).toBe('quick');
    expect(report.rows.map((row) => row.id).sort()).toEqual([...EXPECTED_ROWS].sort());
    for (const row of report.rows) {
      expect(Number.isFinite(row.value), `${row.id} value ${row.value}`).toBe(true);
      if (row.ratio !== null) expect(Number.isFinite(row.ratio), `${row.id} ratio ${row.ratio}`).toBe(true);
      // A row with a target always says whether it is met.
      if (row.target !== null) expect(typeof row.met, row.id).toBe('boolean');
    }
    expect(stdout).toMatch(/targets met/);
    // The progress display goes to stderr, step by step.
    expect(stderr).toContain('measuring fleet');
    expect(stderr).toMatch(/fleet .*half-open, 200 hot calls\/s per instance/);
    for (const measurement of [
      '1 closed path',
      '2 closed path',
      '3 open path',
      '4 idle',
      '5 store',
      '6 propagation',
      '7 one sliding-window flush',
      '8 call paths users take',
      '9 metrics overhead',
      '10 closed path, shared state',
      '11 fleet simulation',
      '12 failover timeline',
    ]) {
      expect(stdout).toContain(measurement);
    }
  }, 180_000);
});

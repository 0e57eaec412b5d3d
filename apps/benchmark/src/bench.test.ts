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
  'round-trip.evalsha',
  'round-trip.record',
  'round-trip.server-evalsha',
  'round-trip.server-record',
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
    const { stdout } = await run(process.execPath, ['--expose-gc', cli, '--quick', '--out', out], {
      timeout: 50_000,
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
    ]) {
      expect(stdout).toContain(measurement);
    }
  }, 60_000);
});

import { describe, expect, it } from 'vitest';
import type { FleetLatency, PhaseResult, RestartFigures } from './fleet.js';
import { extrapolate } from './fleet-extrapolation.js';
import { row } from './report.js';
import { type BenchResults, type FleetRaw, renderReport } from './report-document.js';

const latency: FleetLatency = {
  fleet: { count: 1_000, p50Ms: 0.001, p99Ms: 0.005, maxMs: 0.2 },
  instanceP50Median: 0.001,
  instanceP99Median: 0.004,
  instanceP99Max: 0.01,
};

function phase(name: string, instances: number, sentPerInstance: number, cpuCores: number): PhaseResult {
  return {
    phase: name,
    label: name,
    instances,
    redis: {
      durationMs: 10_000,
      commands: sentPerInstance * instances * 30,
      commandsPerSecond: sentPerInstance * instances * 3,
      cpuSeconds: cpuCores * 10,
      cpuCores,
      byCommand: [{ command: 'evalsha', calls: 100, usec: 1_000 }],
    },
    sentPerSecondPerInstance: sentPerInstance,
    sent: { evalsha: sentPerInstance * instances * 10 },
    commandsPerSecondPerInstance: sentPerInstance * 3,
    cpuCoresPerInstance: cpuCores / instances,
    connectedClients: instances * 2,
    callsPerSecond: instances * 1_000,
    callsNotSucceeded: 0,
    callsBehind: 0,
    latency,
    hotCalls: 0,
    hotRejected: 0,
    hotLatency: latency,
    operations: {},
    hotStatus: { closed: instances },
    workerCpuCores: 0.5,
    eventLoopDelayP99MaxMs: 12,
    series: [{ atMs: 1_000, commandsPerSecond: 100 }],
  };
}

const restart: RestartFigures = {
  downMs: 3_000,
  startMs: 20,
  fallbackMs: [5, 9],
  down: { calls: 5_000, callsNotSucceeded: 0, latency },
  recoveredMs: [300, 350],
  reconciledMs: [900, Number.NaN],
  unreconciled: [0, 3],
  reconciliations: { recovered: 2, 'state-lost': 2 },
  sentPerInstance: 1_200,
  burstWindowMs: 2_000,
  burstCommands: 50_000,
  peakCommandsPerSecond: 90_000,
};

const rest = phase('rest@200', 200, 1.5, 0.05);
const windowed = phase('rest-window', 8, 900, 0.4);
const fleet: FleetRaw = {
  settings: {
    instances: 200,
    circuits: 1_000,
    processes: 4,
    phaseMs: 30_000,
    warmupMs: 20_000,
    callsPerSecondPerCircuit: 1,
    fastCallsPerSecondPerCircuit: 10,
    windowInstances: 8,
    windowCallsPerSecond: 10,
    windowSize: 100,
    hotOpenTimeoutMs: 5_000,
    stormMs: 3_000,
    stormCallsPerSecond: 50,
    halfOpenCallsPerSecond: [20, 200],
    halfOpenMs: 6_000,
    probeDelayMs: 20,
    downMs: 3_000,
    recoveryMs: 5_000,
    recoveryLimitMs: 60_000,
    maxConnections: 4,
    tickMs: 20,
  },
  sweep: [
    { instances: 50, commandsPerSecond: 75, executedPerSecond: 225, cpuCores: 0.0125 },
    { instances: 200, commandsPerSecond: 300, executedPerSecond: 900, cpuCores: 0.05 },
  ],
  phases: [rest, windowed],
  restart,
  extrapolation: extrapolate(
    [
      {
        key: 'rest',
        label: 'at rest',
        instances: 200,
        commandsPerSecond: 300,
        executedPerSecond: 900,
        cpuCores: 0.05,
      },
      {
        key: 'window',
        label: 'sliding windows',
        instances: 8,
        commandsPerSecond: 7_200,
        executedPerSecond: 21_600,
        cpuCores: 0.4,
      },
    ],
    [1_000, 10_000],
  ),
};

const results: BenchResults = {
  startedAt: '2026-12-01T12:00:00.000Z',
  mode: 'full',
  durationMs: 600_000,
  environment: {
    node: 'v22.0.0',
    platform: 'linux x64',
    cpus: 2,
    cpuModel: 'Test CPU',
    memoryBytes: 8 * 2 ** 30,
    redis: { version: '7.0.15', backend: 'process' },
    peers: { cockatiel: '4.0.0', opossum: '10.0.0' },
  },
  rows: [
    row({
      id: 'closed-memory.bare',
      measurement: '1 closed path, memory store',
      subject: 'bare',
      value: 40,
      unit: 'ns/op',
    }),
    row({
      id: 'closed-memory.ours',
      measurement: '1 closed path, memory store',
      subject: 'ours',
      value: 90,
      unit: 'ns/op',
      target: '<= 0.70x',
      met: true,
    }),
    row({
      id: 'closed-memory.cockatiel',
      measurement: '1 closed path, memory store',
      subject: 'cockatiel 4.0.0',
      value: 150,
      unit: 'ns/op',
    }),
    row({
      id: 'open.ours',
      measurement: '3 open path (rejection)',
      subject: 'ours',
      value: 300,
      unit: 'ns/op',
    }),
    row({
      id: 'open.opossum',
      measurement: '3 open path (rejection)',
      subject: 'opossum 10.0.0',
      value: 900,
      unit: 'ns/op',
    }),
    row({
      id: 'naive.naive',
      measurement: '10 closed path, shared state',
      subject: 'naive | piped',
      value: 70_000,
      unit: 'ns/op',
    }),
    row({
      id: 'fleet.rest.sent',
      measurement: '11 fleet simulation',
      subject: 'at rest',
      value: 1.5,
      unit: 'cmd/s',
      target: '<= 2/s',
      met: true,
    }),
    row({
      id: 'fleet.window.sent',
      measurement: '11 fleet simulation',
      subject: 'windows',
      value: 900,
      unit: 'cmd/s',
      target: '<= 50/s',
      met: false,
      remedy: 'fewer window writes',
    }),
  ],
  notes: ['how the fleet was measured'],
  raw: {
    fleet,
    failover: {
      settings: { callsPerSecond: 5_000, downMs: 5_000 },
      killedAtMs: 2_000,
      restartedAtMs: 7_000,
      samples: Array.from({ length: 100 }, (_, index) => ({
        atMs: (index + 1) * 100,
        callsPerSecond: 5_000,
        p99Ms: 0.5,
        maxMs: 2,
        mode: index >= 20 && index < 73 ? 'fallback' : 'connected',
        fallbackMode: index >= 20 && index < 73,
      })),
    },
  },
};

describe('renderReport', () => {
  const rendered = renderReport(results);
  const markdown = rendered.markdown;

  it('heads the report with the machine, Node, Redis and peer versions and the targets met', () => {
    expect(markdown).toMatch(/^# Benchmark report/);
    expect(markdown).toContain('| Machine | Test CPU, 2 CPUs, 8.0 GiB, linux x64 |');
    expect(markdown).toContain('| Node | v22.0.0 |');
    expect(markdown).toContain('| Redis | 7.0.15 (process) |');
    expect(markdown).toContain('| Peers | cockatiel 4.0.0, opossum 10.0.0 |');
    expect(markdown).toContain('| Targets | 2 of 3 met |');
  });

  it('links every chart it renders, and renders the four', () => {
    expect(rendered.charts.map((chart) => chart.file)).toEqual([
      'closed-path.svg',
      'open-path.svg',
      'fleet-redis-cost.svg',
      'failover-timeline.svg',
    ]);
    for (const chart of rendered.charts) {
      expect(markdown).toContain(`](${chart.file})`);
      expect(chart.svg.startsWith('<svg')).toBe(true);
      expect(chart.svg).not.toMatch(/NaN|undefined/);
    }
    const closed = rendered.charts[0]?.svg ?? '';
    // The peers carry their versions; the bars present in the rows are drawn, the others left out.
    expect(closed).toContain('cockatiel 4.0.0');
    expect(closed.match(/<rect class="bar"/g)).toHaveLength(4);
    const timeline = rendered.charts[3]?.svg ?? '';
    expect(timeline.match(/<g class="panel"/g)).toHaveLength(3);
    expect(timeline).toContain('Redis down');
  });

  it('lists every row once with its figure, target and verdict, pipes escaped', () => {
    for (const entry of results.rows) expect(markdown).toContain(`\`${entry.id}\``);
    expect(markdown).toContain('naive \\| piped');
    expect(markdown).toMatch(/`fleet\.rest\.sent` \| at rest \| 1\.50 cmd\/s \| {2}\| <= 2\/s \| met \|/);
    expect(markdown).toMatch(
      /## Targets missed\n\n\| measurement .*\n.*\n\| 11 fleet simulation \| windows \| 900 cmd\/s \| <= 50\/s \| fewer window writes \|/,
    );
  });

  it('gives the fleet phases, the extrapolation with its formula, and the restart', () => {
    expect(markdown).toContain('## Fleet simulation');
    expect(markdown).toContain('| rest@200 | 200 | 1.5 | evalsha 1.5 |');
    expect(markdown).toContain('1,000 instances: cmd/s sent');
    expect(markdown).toContain('10,000: one core holds?');
    // At rest: 0.05 cores / 200 instances = 0.025 % each; 10,000 of them need 250 % of a core.
    expect(markdown).toMatch(
      /\| at rest \| 200 instances \| 1\.5 \| 4\.5 \| 0\.025 % \| 4,000 \| 1,500 \| 25\.0 % \| yes \| 15k \| 250 % \| \*\*no\*\* \|/,
    );
    expect(markdown).toContain('Formula: per instance c = ');
    expect(markdown).toContain('| restart → end of every instance’s last reconciliation | never |');
    expect(markdown).toContain('| circuits left unreconciled by those last reconciliations | 3 |');
    expect(markdown).toContain('| reconciliations by trigger | recovered 2, state-lost 2 |');
  });

  it('renders what it has when a run measured only some of it', () => {
    const partial = renderReport({ ...results, raw: {}, rows: results.rows.slice(0, 1) });
    expect(partial.charts.map((chart) => chart.file)).toEqual(['closed-path.svg']);
    expect(partial.markdown).not.toContain('## Fleet simulation');
    expect(partial.markdown).toContain('## Targets missed\n\nNone.');
  });
});

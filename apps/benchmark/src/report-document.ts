import type { TimelineSample } from './failover-timeline.js';
import type { FleetSettings, PhaseResult, RestartFigures } from './fleet.js';
import type { FleetExtrapolation } from './fleet-extrapolation.js';
import { median } from './harness.js';
import { formatValue, type Row, sortRows } from './report.js';
import { type Bar, barChart, formatNumber, lineChart, type Series } from './svg-chart.js';

/** Everything one run wrote to its JSON file. */
export interface BenchResults {
  readonly startedAt: string;
  readonly mode: 'quick' | 'full';
  /** Keys of the measurements that ran. */
  readonly measurements?: readonly string[];
  readonly durationMs: number;
  readonly environment: {
    readonly node: string;
    readonly platform: string;
    readonly cpus: number;
    readonly cpuModel: string;
    readonly memoryBytes?: number;
    readonly redis: { readonly version: string; readonly backend: string };
    readonly peers: Readonly<Record<string, string>>;
  };
  readonly rows: readonly Row[];
  readonly notes: readonly string[];
  readonly raw: Readonly<Record<string, unknown>>;
}

/** What the fleet measurement puts in `raw.fleet`. */
export interface FleetRaw {
  readonly settings: FleetSettings;
  readonly sweep: ReadonlyArray<{
    instances: number;
    commandsPerSecond: number;
    executedPerSecond: number;
    cpuCores: number;
  }>;
  readonly phases: readonly PhaseResult[];
  readonly restart: RestartFigures;
  readonly extrapolation: FleetExtrapolation;
}

/** What the failover timeline puts in `raw.failover`. */
export interface FailoverRaw {
  readonly settings: { callsPerSecond: number; downMs: number };
  readonly killedAtMs: number;
  readonly restartedAtMs: number;
  readonly samples: readonly TimelineSample[];
}

export interface RenderedReport {
  readonly markdown: string;
  /** SVG files, named as REPORT.md links them. */
  readonly charts: ReadonlyArray<{ readonly file: string; readonly svg: string }>;
}

const CLOSED_BARS: ReadonlyArray<readonly [string, string, boolean]> = [
  ['closed-memory.bare', 'bare await fn()', false],
  ['closed-memory.ours', 'ours (memory store)', true],
  ['closed-memory.cockatiel', 'cockatiel', false],
  ['closed-memory.opossum', 'opossum', false],
  ['naive.ours', 'ours (registry on Redis)', true],
  ['naive.naive', 'naive shared breaker (1 EVALSHA/call)', false],
];
const OPEN_BARS: ReadonlyArray<readonly [string, string, boolean]> = [
  ['open.ours', 'ours', true],
  ['open.ours-fallback', 'ours with fallback', true],
  ['open.cockatiel', 'cockatiel', false],
  ['open.opossum', 'opossum', false],
];

/** The largest, or NaN (shown as "never") when any instance never got there. */
function worstOf(values: readonly number[]): number {
  return values.length === 0 || values.some((value) => !Number.isFinite(value))
    ? Number.NaN
    : Math.max(...values);
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(
  header: readonly string[],
  lines: ReadonlyArray<readonly string[]>,
  right: readonly number[] = [],
): string {
  const align = header.map((_, index) => (right.includes(index) ? '---:' : '---'));
  return [header, align, ...lines].map((cells) => `| ${cells.map(escapeCell).join(' | ')} |`).join('\n');
}

function percent(cores: number): string {
  if (!Number.isFinite(cores)) return String(cores);
  const value = cores * 100;
  return `${value >= 100 ? formatNumber(Math.round(value)) : value >= 1 ? value.toFixed(1) : value.toFixed(3)} %`;
}

function ms(value: number): string {
  if (!Number.isFinite(value)) return 'never';
  return value < 1 ? `${(value * 1_000).toFixed(0)} µs` : `${value.toFixed(value < 10 ? 2 : 0)} ms`;
}

function bars(
  rows: readonly Row[],
  picks: typeof CLOSED_BARS,
  peers: Readonly<Record<string, string>>,
): Bar[] {
  const byId = new Map(rows.map((entry) => [entry.id, entry]));
  const result: Bar[] = [];
  for (const [id, label, highlight] of picks) {
    const found = byId.get(id);
    if (found === undefined) continue;
    const version = peers[label];
    result.push({
      label: version === undefined ? label : `${label} ${version}`,
      value: found.value,
      highlight,
    });
  }
  return result;
}

const REST_COLOR = '#1f77b4';
const WINDOW_COLOR = '#2ca02c';

/** The fleet's Redis CPU and commands against instances: measured sweep, extrapolated lines, one core. */
export function fleetChart(fleet: FleetRaw): string {
  const rest = fleet.extrapolation.lines.find((line) => line.key === 'rest');
  const window = fleet.extrapolation.lines.find((line) => line.key === 'window');
  const measured = fleet.sweep.map((point) => [point.instances, point.cpuCores * 100] as const);
  const extrapolated = (
    line: typeof rest,
    pick: (instances: number, perInstance: { c: number; r: number }) => number,
  ) =>
    line === undefined
      ? []
      : [line.measuredInstances, ...line.points.map((point) => point.instances)].map(
          (instances) =>
            [
              instances,
              pick(instances, { c: line.cpuCoresPerInstance, r: line.commandsPerSecondPerInstance }),
            ] as const,
        );
  const cpuSeries: Series[] = [
    { name: 'at rest, measured', points: measured, markers: true, color: REST_COLOR },
    {
      name: 'at rest, extrapolated',
      points: extrapolated(rest, (m, p) => m * p.c * 100),
      dashed: true,
      color: REST_COLOR,
    },
    {
      name: 'sliding windows, extrapolated',
      points: extrapolated(window, (m, p) => m * p.c * 100),
      dashed: true,
      color: WINDOW_COLOR,
    },
  ];
  if (window !== undefined) {
    cpuSeries.push({
      name: 'sliding windows, measured',
      points: [[window.measuredInstances, window.measuredInstances * window.cpuCoresPerInstance * 100]],
      markers: true,
      color: WINDOW_COLOR,
    });
  }
  const commandSeries: Series[] = [
    {
      name: 'at rest, measured',
      points: fleet.sweep.map((point) => [point.instances, point.commandsPerSecond] as const),
      markers: true,
      color: REST_COLOR,
    },
    {
      name: 'at rest, extrapolated',
      points: extrapolated(rest, (m, p) => m * p.r),
      dashed: true,
      color: REST_COLOR,
    },
    {
      name: 'sliding windows, extrapolated',
      points: extrapolated(window, (m, p) => m * p.r),
      dashed: true,
      color: WINDOW_COLOR,
    },
  ];
  return lineChart({
    title: 'Fleet: Redis cost against instances',
    x: { label: 'instances (log scale)', scale: 'log' },
    panels: [
      {
        y: { label: 'Redis CPU, % of one core', scale: 'log' },
        series: cpuSeries,
        references: [{ y: 100, label: 'one Redis core' }],
        height: 240,
      },
      { y: { label: 'commands sent/s, all instances', scale: 'log' }, series: commandSeries, height: 200 },
    ],
  });
}

/** Throughput, p99 and Redis mode every 100 ms while Redis is killed and started again. */
export function failoverChart(failover: FailoverRaw): string {
  const seconds = (value: number) => value / 1_000;
  const samples = failover.samples;
  return lineChart({
    title: `Failover: Redis killed for ${seconds(failover.restartedAtMs - failover.killedAtMs).toFixed(1)} s under ${formatNumber(failover.settings.callsPerSecond)} calls/s`,
    x: { label: 'time, s' },
    bands: [{ from: seconds(failover.killedAtMs), to: seconds(failover.restartedAtMs), label: 'Redis down' }],
    panels: [
      {
        y: { label: 'calls settled/s' },
        series: [
          { name: 'throughput', points: samples.map((s) => [seconds(s.atMs), s.callsPerSecond] as const) },
        ],
        height: 160,
      },
      {
        y: { label: 'p99 per 100 ms, ms', scale: 'log' },
        series: [
          { name: 'p99', points: samples.map((s) => [seconds(s.atMs), s.p99Ms] as const) },
          { name: 'max', points: samples.map((s) => [seconds(s.atMs), s.maxMs] as const), dashed: true },
        ],
        height: 160,
      },
      {
        y: {
          label: 'Redis mode',
          min: 0,
          max: 1,
          ticks: [
            { value: 0, label: 'connected' },
            { value: 1, label: 'fallback' },
          ],
        },
        series: [
          {
            name: 'manager.fallbackMode',
            points: samples.map((s) => [seconds(s.atMs), s.fallbackMode ? 1 : 0] as const),
            step: true,
            area: true,
          },
        ],
        height: 70,
      },
    ],
  });
}

function fleetSection(fleet: FleetRaw): string[] {
  const s = fleet.settings;
  const out: string[] = [];
  out.push(
    '## Fleet simulation',
    '',
    `${s.instances} instances in ${s.processes} processes on this machine against one redis-server of their own. ` +
      `An instance is a \`CircuitBreakerRegistry\` with its own \`RedisConnectionManager\` (maxConnections ${s.maxConnections}) and ` +
      `${s.circuits.toLocaleString('en-US')} circuits plus one hot circuit; every instance serves the same circuits (one shared key each). ` +
      `At rest every circuit takes ${s.callsPerSecondPerCircuit} call/s (${formatNumber(s.instances * s.circuits * s.callsPerSecondPerCircuit)} calls/s for the fleet, each awaited and timed; ` +
      'the closed path touches no store, so the rate only has to keep every circuit active; a tenth of the circuits at ten times the rate shows whether the cost follows the calls). ' +
      `Phases of ${s.phaseMs / 1_000} s after ${s.warmupMs / 1_000} s of warm-up; Redis figures are INFO deltas (commandstats without the sampler's INFO; used_cpu_user + used_cpu_sys).`,
    '',
  );
  const lines = fleet.phases.map((phase) => {
    const seconds = phase.redis.durationMs / 1_000;
    const top = Object.entries(phase.sent)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([command, count]) => `${command} ${formatNumber(count / seconds / phase.instances)}`)
      .join(', ');
    const onlyHot = phase.callsPerSecond === 0 && phase.hotCalls > 0;
    const latency = onlyHot ? phase.hotLatency : phase.latency;
    return [
      phase.label,
      String(phase.instances),
      formatNumber(phase.sentPerSecondPerInstance),
      top || '–',
      formatNumber(phase.commandsPerSecondPerInstance),
      percent(phase.redis.cpuCores),
      formatNumber(phase.callsPerSecond + phase.hotCalls / seconds),
      ms(latency.instanceP50Median),
      ms(latency.instanceP99Median),
      ms(latency.instanceP99Max),
      ms(phase.eventLoopDelayP99MaxMs),
    ];
  });
  out.push(
    table(
      [
        'phase',
        'instances',
        'cmd/s sent per instance',
        'busiest (per instance)',
        'cmd/s executed per instance',
        'Redis CPU',
        'calls/s',
        'call p50 (median instance)',
        'call p99 (median instance)',
        'call p99 (worst instance)',
        'event-loop delay p99 (busiest process)',
      ],
      lines,
      [1, 2, 4, 5, 6, 7, 8, 9, 10],
    ),
    '',
    '*Sent*: commands on the instances’ own connections (one EVALSHA is one). *Executed*: Redis’s INFO commandstats, which also counts what scripts run inside. ' +
      'The event-loop delay tells how loaded the worker processes were (the machine is shared); a call’s latency is measured around its own await. ' +
      'Latency is of the ordinary circuits’ calls, or of the hot circuit’s where only it is called (storm, half-open); ' +
      'the rows below give the hot circuit’s share as the rate beyond the idle fleet’s.',
    '',
    '### Extrapolation',
    '',
  );
  const targets = fleet.extrapolation.lines[0]?.points.map((point) => point.instances) ?? [];
  out.push(
    table(
      [
        'load',
        'measured with',
        'cmd/s sent per instance',
        'cmd/s executed per instance',
        'Redis CPU per instance',
        'instances per Redis core',
        ...targets.flatMap((instances) => [
          `${instances.toLocaleString('en-US')} instances: cmd/s sent`,
          `${instances.toLocaleString('en-US')}: Redis CPU`,
          `${instances.toLocaleString('en-US')}: one core holds?`,
        ]),
      ],
      fleet.extrapolation.lines.map((line) => [
        line.label,
        `${line.measuredInstances} instances`,
        formatNumber(line.commandsPerSecondPerInstance),
        formatNumber(line.executedPerSecondPerInstance),
        percent(line.cpuCoresPerInstance),
        Number.isFinite(line.instancesPerCore)
          ? formatNumber(Math.floor(line.instancesPerCore))
          : 'unbounded',
        ...line.points.flatMap((point) => [
          formatNumber(point.commandsPerSecond),
          percent(point.cpuCores),
          point.holds ? 'yes' : '**no**',
        ]),
      ]),
      [2, 3, 4, 5, 6, 7, 9, 10],
    ),
    '',
    `Formula: ${fleet.extrapolation.formula}`,
    '',
  );
  const restart = fleet.restart;
  const fallback = restart.fallbackMs.filter(Number.isFinite);
  out.push(
    '### Redis restart',
    '',
    table(
      ['figure', 'value'],
      [
        ['Redis down (SIGKILL, then started on the same port, empty)', ms(restart.downMs)],
        [
          'kill → fallback mode, per instance (median / worst)',
          `${ms(median(fallback))} / ${ms(worstOf(restart.fallbackMs))}`,
        ],
        [
          'calls while down: made / failed',
          `${restart.down.calls.toLocaleString('en-US')} / ${restart.down.callsNotSucceeded.toLocaleString('en-US')}`,
        ],
        [
          'call latency while down: p50 / p99 / max (all instances)',
          `${ms(restart.down.latency.fleet.p50Ms)} / ${ms(restart.down.latency.fleet.p99Ms)} / ${ms(restart.down.latency.fleet.maxMs)}`,
        ],
        ['restart → every instance out of fallback mode', ms(worstOf(restart.recoveredMs))],
        ['restart → end of every instance’s last reconciliation', ms(worstOf(restart.reconciledMs))],
        [
          'circuits left unreconciled by those last reconciliations',
          String((restart.unreconciled ?? []).reduce((sum, count) => sum + count, 0)),
        ],
        [
          'reconciliations by trigger',
          Object.entries(restart.reconciliations)
            .map(([trigger, count]) => `${trigger} ${count}`)
            .join(', ') || 'none',
        ],
        [
          'commands sent per instance from the restart until all reconciled',
          formatNumber(restart.sentPerInstance),
        ],
        [
          `commands Redis executed in the first ${restart.burstWindowMs / 1_000} s after the restart (per instance)`,
          `${formatNumber(restart.burstCommands)} (${formatNumber(restart.burstCommands / s.instances)})`,
        ],
        ['peak commands/s (100 ms samples)', formatNumber(restart.peakCommandsPerSecond)],
      ],
      [1],
    ),
    '',
  );
  return out;
}

/** REPORT.md and its charts, from the JSON of one run. */
export function renderReport(results: BenchResults): RenderedReport {
  const environment = results.environment;
  const peers = Object.entries(environment.peers)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ');
  const judged = results.rows.filter((entry) => entry.met !== null);
  const met = judged.filter((entry) => entry.met === true).length;
  const charts: Array<{ file: string; svg: string; title: string }> = [];
  const closed = bars(results.rows, CLOSED_BARS, environment.peers);
  if (closed.length > 0) {
    charts.push({
      file: 'closed-path.svg',
      title: 'Closed path against the peers and the naive shared breaker',
      svg: barChart({
        title: 'Closed path: one call on a closed circuit',
        unit: 'ns per call',
        scale: 'log',
        bars: closed,
      }),
    });
  }
  const open = bars(results.rows, OPEN_BARS, environment.peers);
  if (open.length > 0) {
    charts.push({
      file: 'open-path.svg',
      title: 'Open path against the peers',
      svg: barChart({ title: 'Open path: one rejected call', unit: 'ns per call', bars: open }),
    });
  }
  const fleet = results.raw.fleet as FleetRaw | undefined;
  if (fleet !== undefined) {
    charts.push({
      file: 'fleet-redis-cost.svg',
      title: 'Fleet Redis cost against instances',
      svg: fleetChart(fleet),
    });
  }
  const failover = results.raw.failover as FailoverRaw | undefined;
  if (failover !== undefined) {
    charts.push({ file: 'failover-timeline.svg', title: 'Failover timeline', svg: failoverChart(failover) });
  }
  const memory =
    environment.memoryBytes === undefined ? '' : `, ${(environment.memoryBytes / 2 ** 30).toFixed(1)} GiB`;
  const out: string[] = [
    '# Benchmark report',
    '',
    `Generated by \`pnpm bench --report\` from a ${results.mode} run started ${results.startedAt} (${(results.durationMs / 60_000).toFixed(1)} min). ` +
      'Do not edit by hand: re-run the command (`pnpm bench --report-from <json>` re-renders an earlier run).',
    '',
    table(
      ['', ''],
      [
        ['Machine', `${environment.cpuModel}, ${environment.cpus} CPUs${memory}, ${environment.platform}`],
        ['Node', environment.node],
        ['Redis', `${environment.redis.version} (${environment.redis.backend})`],
        ['Peers', peers],
        ['Targets', `${met} of ${judged.length} met`],
      ],
    ),
    '',
    'Every figure comes from this one run on this machine; compare ratios, not absolute times, across machines. ' +
      'Targets are reported, never asserted by tests.',
    '',
  ];
  if (charts.length > 0) {
    out.push('## Charts', '');
    for (const chart of charts) out.push(`### ${chart.title}`, '', `![${chart.title}](${chart.file})`, '');
  }
  if (fleet !== undefined) out.push(...fleetSection(fleet));
  const missed = judged.filter((entry) => entry.met === false);
  out.push('## Targets missed', '');
  if (missed.length === 0) out.push('None.', '');
  else {
    out.push(
      table(
        ['measurement', 'subject', 'figure', 'target', 'what would close it'],
        sortRows(missed).map((entry) => [
          entry.measurement,
          entry.subject,
          formatValue(entry.value, entry.unit),
          entry.target ?? '',
          entry.remedy ?? '',
        ]),
        [2],
      ),
      '',
    );
  }
  out.push('## Every row', '');
  out.push(
    table(
      ['measurement', 'id', 'subject', 'figure', 'ratio', 'target', 'met'],
      sortRows(results.rows).map((entry) => [
        entry.measurement,
        `\`${entry.id}\``,
        entry.subject,
        formatValue(entry.value, entry.unit),
        entry.ratio === null ? '' : `${entry.ratio.toFixed(2)}x ${entry.ratioOf ?? ''}`.trim(),
        entry.target ?? '',
        entry.met === null ? '' : entry.met ? 'met' : '**missed**',
      ]),
      [3, 4],
    ),
    '',
    '## How it was measured',
    '',
    ...results.notes.map((note) => `- ${note}`),
    '',
  );
  return {
    markdown: out.join('\n'),
    charts: charts.map(({ file, svg }) => ({ file, svg })),
  };
}

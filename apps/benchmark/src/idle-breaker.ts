import { createCircuitBreaker } from '@xnai/cb-core';
import { MemoryStateStore } from '@xnai/cb-store-memory';
import { ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import Opossum from 'opossum';
import type { BenchContext } from './context.js';
import { collectGarbage, median } from './harness.js';
import { COCKATIEL, OPOSSUM } from './peers.js';
import { type MeasurementResult, type Row, row } from './report.js';
import { installTimerCensus, refedTimeouts } from './timer-census.js';

const MEASUREMENT = '4 idle breaker';

interface Footprint {
  readonly bytesPerBreaker: number;
  readonly timersPerBreaker: number;
  readonly refedTimersPerBreaker: number;
}

interface Subject {
  readonly subject: string;
  readonly id: string;
  /** Creates one breaker and makes it idle (one call made, nothing pending). */
  create(index: number): Promise<unknown>;
  dispose(breakers: readonly unknown[]): Promise<void>;
}

/** Heap and timers held by `count` idle breakers, per breaker. The holding array is allocated first. */
async function footprint(subject: Subject, count: number): Promise<Footprint> {
  const held: unknown[] = new Array(count).fill(null);
  const census = installTimerCensus();
  try {
    collectGarbage();
    const heapBefore = process.memoryUsage().heapUsed;
    const timersBefore = census.live;
    const refedBefore = refedTimeouts();
    for (let index = 0; index < count; index += 1) held[index] = await subject.create(index);
    collectGarbage();
    const heapAfter = process.memoryUsage().heapUsed;
    const result = {
      bytesPerBreaker: (heapAfter - heapBefore) / count,
      timersPerBreaker: (census.live - timersBefore) / count,
      refedTimersPerBreaker: (refedTimeouts() - refedBefore) / count,
    };
    await subject.dispose(held);
    return result;
  } finally {
    census.uninstall();
  }
}

/** Bytes and timers per idle breaker: ours on one memory store vs cockatiel and opossum. */
export async function measureIdleBreaker(context: BenchContext): Promise<MeasurementResult> {
  const fn = async (): Promise<number> => 42;
  const count = context.quick ? 2_000 : 20_000;
  const rounds = context.quick ? 1 : 3;
  const store = new MemoryStateStore();
  const subjects: Subject[] = [
    {
      subject: 'ours (one call made)',
      id: 'idle.ours',
      async create(index) {
        const breaker = createCircuitBreaker({ name: `idle-${index}`, store });
        await breaker.execute(fn);
        return breaker;
      },
      async dispose(breakers) {
        for (const breaker of breakers) await (breaker as { close(): Promise<void> }).close();
      },
    },
    {
      subject: 'ours (never called)',
      id: 'idle.ours-unused',
      async create(index) {
        return createCircuitBreaker({ name: `unused-${index}`, store });
      },
      async dispose() {},
    },
    {
      subject: COCKATIEL,
      id: 'idle.cockatiel',
      async create() {
        const policy = circuitBreaker(handleAll, {
          halfOpenAfter: 10_000,
          breaker: new ConsecutiveBreaker(5),
        });
        await policy.execute(fn);
        return policy;
      },
      async dispose() {},
    },
    {
      subject: OPOSSUM,
      id: 'idle.opossum',
      async create() {
        const breaker = new Opossum(fn, { timeout: false });
        await breaker.fire();
        return breaker;
      },
      async dispose(breakers) {
        for (const breaker of breakers) (breaker as Opossum).shutdown();
      },
    },
  ];
  const samples = new Map<string, Footprint[]>(subjects.map((subject) => [subject.id, []]));
  for (let round = 0; round < rounds; round += 1) {
    const order = round % 2 === 0 ? subjects : [...subjects].reverse();
    for (const subject of order) samples.get(subject.id)?.push(await footprint(subject, count));
  }
  await store.close();

  const rows: Row[] = [];
  const summary: Record<string, Footprint> = {};
  for (const subject of subjects) {
    const figures = samples.get(subject.id) ?? [];
    const bytes = median(figures.map((figure) => figure.bytesPerBreaker));
    const timers = median(figures.map((figure) => figure.timersPerBreaker));
    const refed = median(figures.map((figure) => figure.refedTimersPerBreaker));
    summary[subject.id] = { bytesPerBreaker: bytes, timersPerBreaker: timers, refedTimersPerBreaker: refed };
    const isOurs = subject.id.startsWith('idle.ours');
    rows.push(
      row({
        id: `${subject.id}.bytes`,
        measurement: MEASUREMENT,
        subject: subject.subject,
        value: bytes,
        unit: 'bytes',
        target: isOurs ? '<= 300 bytes' : null,
        met: isOurs ? bytes <= 300 : null,
        remedy: isOurs
          ? 'what is left after one call is the breaker (96 B), its view (104 B), its name (about 32 B) and its entry in the store’s watch map: merging the view into the breaker would save its header and the fields both keep (name, settings)'
          : null,
      }),
      row({
        id: `${subject.id}.timers`,
        measurement: MEASUREMENT,
        subject: subject.subject,
        value: timers,
        unit: 'timers',
        target: isOurs ? '0 timers' : null,
        met: isOurs ? timers === 0 && refed === 0 : null,
      }),
    );
  }
  const cockatielBytes = summary['idle.cockatiel']?.bytesPerBreaker ?? Number.NaN;
  for (const [index, entry] of rows.entries()) {
    if (entry.unit === 'bytes')
      rows[index] = { ...entry, ratio: entry.value / cockatielBytes, ratioOf: 'cockatiel' };
  }
  return {
    rows,
    raw: { breakersPerRound: count, rounds, samples: Object.fromEntries(samples), summary },
    notes: [
      `idle breaker: heapUsed delta after forced GC over ${count.toLocaleString('en-US')} breakers on one memory store (median of ${rounds}); timers counted by wrapping the global timer functions, because process.getActiveResourcesInfo() omits unref'd timers (its own count is in the JSON).`,
    ],
  };
}

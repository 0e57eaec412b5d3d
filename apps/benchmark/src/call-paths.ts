import { createCircuitBreaker } from '@xnai/cb-core';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { CircuitBreakerRegistry } from '@xnai/cb-registry';
import { MemoryStateStore } from '@xnai/cb-store-memory';
import { ConsecutiveBreaker, circuitBreaker, handleAll, TimeoutStrategy, timeout, wrap } from 'cockatiel';
import type { BenchContext } from './context.js';
import {
  type Contender,
  type ContenderFigure,
  collectGarbage,
  compare,
  figureOf,
  type Task,
} from './harness.js';
import { COCKATIEL } from './peers.js';
import { type MeasurementResult, type Row, row } from './report.js';

const MEASUREMENT = '8 call paths users take';
const TIMEOUT_MS = 5_000;

/** Heap bytes retained per call after `count` calls of `task`, with forced GC before and after. */
async function retainedPerCall(task: Task, count: number): Promise<number> {
  for (let index = 0; index < Math.min(count, 50_000); index += 1) await task();
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  for (let index = 0; index < count; index += 1) await task();
  collectGarbage();
  return (process.memoryUsage().heapUsed - before) / count;
}

/**
 * A heap that has seen major GCs, as a long-running service's has: ~150 MB of live objects kept for
 * the measurement, collected in full a few times first.
 */
function agedHeap(): unknown[] {
  const kept: unknown[] = [];
  for (let index = 0; index < 1_500_000; index += 1)
    kept.push({ index, label: `entry-${index}`, next: null });
  for (let round = 0; round < 3; round += 1) collectGarbage();
  return kept;
}

/**
 * The paths users take, side by side in one run on a closed circuit (memory store, or the registry's
 * state manager over Redis, which a closed circuit never asks): the plain breaker, a breaker-wide
 * signal, the registry, a request signal, a timeout, per-call event listeners; against a bare
 * `await fn()` and cockatiel on the same paths. Each row again on a heap that has seen major GCs, the
 * cost with 5,000 calls in flight, and the heap retained per call.
 */
export async function measureCallPaths(context: BenchContext): Promise<MeasurementResult> {
  const fn = async (): Promise<number> => 42;
  const store = new MemoryStateStore();
  const plain = createCircuitBreaker({ name: 'paths-plain', store });
  const shutdown = new AbortController();
  const wide = createCircuitBreaker({ name: 'paths-wide', store, signal: shutdown.signal });
  const timed = createCircuitBreaker({ name: 'paths-timed', store, callTimeoutMs: TIMEOUT_MS });
  const listened = createCircuitBreaker({ name: 'paths-events', store });
  let heard = 0;
  listened.onCall(() => {
    heard += 1;
  });
  const manager = new RedisConnectionManager({ url: context.redisUrl });
  const registry = new CircuitBreakerRegistry({ redis: manager, keyPrefix: `${context.keyPrefix}paths:` });
  registry.registerCircuitBreaker('r', {});
  registry.registerCircuitBreaker('r-timed', { callTimeoutMs: TIMEOUT_MS });
  const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) });
  const cockatielTimed = wrap(timeout(TIMEOUT_MS, TimeoutStrategy.Aggressive), cockatiel);
  // A request-scoped signal, as an Express handler has: one per request, reused here so that its
  // creation (the application's cost) is not counted.
  const request = new AbortController().signal;
  try {
    if (!(await manager.connect())) throw new Error('call paths: Redis did not connect');
    for (const task of [
      () => plain.execute(fn),
      () => registry.callWithCircuitBreaker('r', fn),
      () => registry.callWithCircuitBreaker('r-timed', fn),
    ]) {
      await task();
    }
    await registry.get('r')?.refresh();
    await registry.get('r-timed')?.refresh();
    const contenders: Contender[] = [
      { subject: 'bare await fn()', task: () => fn() },
      { subject: 'plain breaker', task: () => plain.execute(fn) },
      { subject: 'breaker-wide signal', task: () => wide.execute(fn) },
      { subject: 'registry', task: () => registry.callWithCircuitBreaker('r', fn) },
      { subject: COCKATIEL, task: () => cockatiel.execute(fn) },
      { subject: 'plain breaker, request signal', task: () => plain.execute(fn, { signal: request }) },
      {
        subject: 'registry, request signal',
        task: () => registry.callWithCircuitBreaker('r', fn, { signal: request }),
      },
      { subject: `${COCKATIEL}, request signal`, task: () => cockatiel.execute(fn, request) },
      { subject: 'plain breaker, callTimeoutMs', task: () => timed.execute(fn) },
      { subject: 'registry, callTimeoutMs', task: () => registry.callWithCircuitBreaker('r-timed', fn) },
      { subject: `${COCKATIEL} timeout around breaker`, task: () => cockatielTimed.execute(fn) },
      { subject: 'plain breaker, one onCall listener', task: () => listened.execute(fn) },
    ];
    const options = context.quick
      ? { iterations: 3_000, rounds: 3, warmupIterations: 3_000 }
      : { iterations: 100_000, rounds: 7, warmupIterations: 50_000 };
    const young = await compare(contenders, options);
    // The aged heap stays reachable while the second round runs, then is let go.
    const kept: { heap: unknown[] | null } = { heap: agedHeap() };
    const aged = await compare(contenders, options);
    kept.heap = null;
    collectGarbage();

    // The same timed registry call with 5,000 calls in flight (hanging until released).
    const release: Array<() => void> = [];
    const hanging = Array.from({ length: 5_000 }, () =>
      registry.callWithCircuitBreaker(
        'r-timed',
        () => new Promise<number>((resolve) => release.push(() => resolve(1))),
      ),
    );
    const inFlight = await compare(
      [
        {
          subject: 'registry, callTimeoutMs, 5,000 in flight',
          task: () => registry.callWithCircuitBreaker('r-timed', fn),
        },
      ],
      options,
    );
    for (const done of release) done();
    await Promise.all(hanging);

    const retainedCount = context.quick ? 100_000 : 2_000_000;
    const retained: Record<string, number> = {};
    for (const [key, task] of [
      ['plain', () => plain.execute(fn)],
      ['registry', () => registry.callWithCircuitBreaker('r', fn)],
      [
        'registry-signal',
        () => registry.callWithCircuitBreaker('r', fn, { signal: new AbortController().signal }),
      ],
      ['registry-timeout', () => registry.callWithCircuitBreaker('r-timed', fn)],
    ] as Array<[string, Task]>) {
      retained[key] = await retainedPerCall(task, retainedCount);
    }

    const rows: Row[] = [];
    const add = (figures: ContenderFigure[], suffix: string, label: string) => {
      const ns = (subject: string) => figureOf(figures, subject).medianNsPerOp;
      const bare = ns('bare await fn()');
      const plainNs = ns('plain breaker');
      const ratioRow = (
        id: string,
        subject: string,
        reference: string,
        target: number | null,
        ratioOf: string,
        remedy: string | null = null,
      ) => {
        const value = ns(subject);
        const ratio = value / ns(reference);
        rows.push(
          row({
            id: `call.${id}${suffix}`,
            measurement: MEASUREMENT,
            subject: `${subject}${label}`,
            value,
            unit: 'ns/op',
            ratio,
            ratioOf,
            ...(target === null ? {} : { target: `<= ${target.toFixed(2)}x`, met: ratio <= target, remedy }),
          }),
        );
      };
      ratioRow('bare', 'bare await fn()', 'bare await fn()', null, 'bare await');
      ratioRow('plain', 'plain breaker', 'bare await fn()', 2, 'bare await');
      ratioRow('breaker-signal', 'breaker-wide signal', 'plain breaker', null, 'plain breaker');
      ratioRow(
        'registry',
        'registry',
        'plain breaker',
        1.2,
        'plain breaker',
        'the name lookup and option check per call skipped: a handle of the registry circuit that callers keep (registry.get(name) once), calling the breaker directly',
      );
      ratioRow('cockatiel', COCKATIEL, 'plain breaker', null, 'plain breaker');
      ratioRow(
        'signal-plain',
        'plain breaker, request signal',
        `${COCKATIEL}, request signal`,
        1,
        'cockatiel, same signal',
      );
      ratioRow(
        'signal-registry',
        'registry, request signal',
        `${COCKATIEL}, request signal`,
        1,
        'cockatiel, same signal',
      );
      ratioRow('signal-registry-vs-plain', 'registry, request signal', 'plain breaker', 1.5, 'plain breaker');
      ratioRow('cockatiel-signal', `${COCKATIEL}, request signal`, 'plain breaker', null, 'plain breaker');
      ratioRow(
        'timeout-plain',
        'plain breaker, callTimeoutMs',
        `${COCKATIEL} timeout around breaker`,
        1,
        'cockatiel timeout',
      );
      ratioRow(
        'timeout-registry',
        'registry, callTimeoutMs',
        `${COCKATIEL} timeout around breaker`,
        1,
        'cockatiel timeout',
      );
      ratioRow(
        'cockatiel-timeout',
        `${COCKATIEL} timeout around breaker`,
        'plain breaker',
        null,
        'plain breaker',
      );
      const delta = ns('plain breaker, one onCall listener') - plainNs;
      rows.push(
        row({
          id: `call.events-one${suffix}`,
          measurement: MEASUREMENT,
          subject: `one onCall listener: ns above the plain breaker${label}`,
          value: delta,
          unit: 'ns/op',
          target: '<= +30 ns',
          met: delta <= 30,
          remedy:
            'one clock read per call instead of two (the start time read for slow-call detection reused for the duration) and no event object when the listener set is empty',
        }),
      );
      void bare;
    };
    add(young, '', '');
    add(aged, '.after-gc', ' (heap after major GCs)');
    const oneInFlight = figureOf(young, 'registry, callTimeoutMs').medianNsPerOp;
    const manyInFlight = figureOf(inFlight, 'registry, callTimeoutMs, 5,000 in flight').medianNsPerOp;
    rows.push(
      row({
        id: 'call.timeout-inflight-5000',
        measurement: MEASUREMENT,
        subject: 'registry, callTimeoutMs, with 5,000 calls in flight',
        value: manyInFlight,
        unit: 'ns/op',
        ratio: manyInFlight / oneInFlight,
        ratioOf: '1 in flight',
        target: '<= 1.20x',
        met: manyInFlight / oneInFlight <= 1.2,
      }),
    );
    for (const [key, bytes] of Object.entries(retained)) {
      rows.push(
        row({
          id: `retained.${key}`,
          measurement: MEASUREMENT,
          subject: `heap retained per call after forced GC, ${key} (${retainedCount.toLocaleString('en-US')} calls)`,
          value: bytes,
          unit: 'bytes',
          target: '<= 1 byte (0 within noise)',
          met: bytes <= 1,
        }),
      );
    }
    return {
      rows,
      raw: { options, young, aged, inFlight, retained, retainedCount, heard },
      notes: [
        `call paths: closed circuits, fn resolves at once; the request signal is one AbortSignal reused by every call (its creation is the application's cost); "after major GCs" keeps ~150 MB of live objects collected in full three times; retained bytes are heapUsed after forced GC, before and after ${retainedCount.toLocaleString('en-US')} calls.`,
      ],
    };
  } finally {
    shutdown.abort();
    await registry.cleanup();
    for (const breaker of [plain, wide, timed, listened]) await breaker.close();
    await store.close();
  }
}

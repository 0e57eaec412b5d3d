import { createCircuitBreaker } from '@xnai/cb-core';
import { MemoryStateStore } from '@xnai/cb-store-memory';
import { CircuitState, ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import Opossum from 'opossum';
import type { BenchContext } from './context.js';
import { compare, figureOf } from './harness.js';
import { COCKATIEL, OPOSSUM } from './peers.js';
import { type MeasurementResult, row } from './report.js';

const MEASUREMENT = '1 closed path, memory store';

/** ns per `await breaker.execute(fn)` on a closed circuit: ours, cockatiel and opossum, bare `await fn()`. */
export async function measureClosedMemory(context: BenchContext): Promise<MeasurementResult> {
  const fn = async (): Promise<number> => 42;
  const store = new MemoryStateStore();
  const ours = createCircuitBreaker({ name: 'bench-closed-memory', store });
  await ours.execute(fn);
  const cockatiel = circuitBreaker(handleAll, {
    halfOpenAfter: 10_000,
    breaker: new ConsecutiveBreaker(5),
  });
  // Its default 10 s call timeout arms a timer per call; ours runs without one, so neither does it.
  const opossum = new Opossum(fn, { timeout: false });
  try {
    if (ours.status !== 'closed' || cockatiel.state !== CircuitState.Closed || opossum.opened) {
      throw new Error('closed path: a breaker is not closed');
    }
    const options = context.quick
      ? { iterations: 5_000, rounds: 3, warmupIterations: 5_000 }
      : { iterations: 200_000, rounds: 9, warmupIterations: 100_000 };
    const figures = await compare(
      [
        { subject: 'bare await fn()', task: () => fn() },
        { subject: 'ours', task: () => ours.execute(fn) },
        { subject: COCKATIEL, task: () => cockatiel.execute(fn) },
        { subject: OPOSSUM, task: () => opossum.fire() },
      ],
      options,
    );
    const reference = figureOf(figures, COCKATIEL).medianNsPerOp;
    const bare = figureOf(figures, 'bare await fn()').medianNsPerOp;
    const ids: Record<string, string> = {
      'bare await fn()': 'closed-memory.bare',
      ours: 'closed-memory.ours',
      [COCKATIEL]: 'closed-memory.cockatiel',
      [OPOSSUM]: 'closed-memory.opossum',
    };
    const rows = figures.map((figure) => {
      const ratio = figure.medianNsPerOp / reference;
      const isOurs = figure.subject === 'ours';
      return row({
        id: ids[figure.subject] as string,
        measurement: MEASUREMENT,
        subject: figure.subject,
        value: figure.medianNsPerOp,
        unit: 'ns/op',
        ratio,
        ratioOf: 'cockatiel',
        target: isOurs ? '<= 0.70x' : null,
        met: isOurs ? ratio <= 0.7 : null,
      });
    });
    const oursNs = figureOf(figures, 'ours').medianNsPerOp;
    return {
      rows,
      raw: {
        options,
        figures,
        overheadAboveBareNs: Object.fromEntries(figures.map((f) => [f.subject, f.medianNsPerOp - bare])),
      },
      notes: [
        `closed path: ours costs ${(oursNs - bare).toFixed(0)} ns above a bare await, cockatiel ${(reference - bare).toFixed(0)} ns; opossum runs with timeout: false (its default arms a timer per call).`,
      ],
    };
  } finally {
    opossum.shutdown();
    await ours.close();
    await store.close();
  }
}

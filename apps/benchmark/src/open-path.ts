import { createCircuitBreaker } from '@xnai/cb-core';
import { MemoryStateStore } from '@xnai/cb-store-memory';
import { CircuitState, ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import Opossum from 'opossum';
import type { BenchContext } from './context.js';
import { compare, figureOf, noop } from './harness.js';
import { COCKATIEL, OPOSSUM } from './peers.js';
import { type MeasurementResult, row } from './report.js';

const MEASUREMENT = '3 open path (rejection)';
const OPEN_MS = 3_600_000;

/** ns per rejected call on an open circuit: ours (without and with a fallback) vs cockatiel and opossum. */
export async function measureOpenPath(context: BenchContext): Promise<MeasurementResult> {
  const fn = async (): Promise<number> => 42;
  const failing = async (): Promise<number> => {
    throw new Error('down');
  };
  const store = new MemoryStateStore();
  const policy = { failureThreshold: 1, openTimeoutMs: OPEN_MS, maxOpenTimeoutMs: OPEN_MS };
  const ours = createCircuitBreaker({ name: 'bench-open', store, ...policy });
  const oursWithFallback = createCircuitBreaker({
    name: 'bench-open-fallback',
    store,
    ...policy,
    fallback: () => 0,
  });
  const cockatiel = circuitBreaker(handleAll, {
    halfOpenAfter: OPEN_MS,
    breaker: new ConsecutiveBreaker(5),
  });
  let opossumFails = true;
  const opossum = new Opossum(async () => (opossumFails ? failing() : fn()), {
    timeout: false,
    resetTimeout: OPEN_MS,
  });
  try {
    await ours.execute(failing).catch(noop);
    await oursWithFallback.execute(failing);
    for (let index = 0; index < 5; index += 1) await cockatiel.execute(failing).catch(noop);
    await opossum.fire().catch(noop);
    opossumFails = false;
    if (
      ours.status !== 'open' ||
      oursWithFallback.status !== 'open' ||
      cockatiel.state !== CircuitState.Open ||
      !opossum.opened
    ) {
      throw new Error('open path: a breaker did not open');
    }
    const options = context.quick
      ? { iterations: 2_000, rounds: 3, warmupIterations: 2_000 }
      : { iterations: 50_000, rounds: 9, warmupIterations: 20_000 };
    // Every task settles the same way (a resolved promise), so each pays for one catch handler.
    const figures = await compare(
      [
        { subject: 'ours', task: () => ours.execute(fn).then(noop, noop) },
        { subject: 'ours with fallback', task: () => oursWithFallback.execute(fn).then(noop, noop) },
        { subject: COCKATIEL, task: () => cockatiel.execute(fn).then(noop, noop) },
        { subject: OPOSSUM, task: () => opossum.fire().then(noop, noop) },
      ],
      options,
    );
    const cockatielNs = figureOf(figures, COCKATIEL).medianNsPerOp;
    const opossumNs = figureOf(figures, OPOSSUM).medianNsPerOp;
    const fastestPeer = cockatielNs <= opossumNs ? 'cockatiel' : 'opossum';
    const fastestNs = Math.min(cockatielNs, opossumNs);
    const ids: Record<string, string> = {
      ours: 'open.ours',
      'ours with fallback': 'open.ours-fallback',
      [COCKATIEL]: 'open.cockatiel',
      [OPOSSUM]: 'open.opossum',
    };
    const rows = figures.map((figure) => {
      const ratio = figure.medianNsPerOp / fastestNs;
      const isOurs = figure.subject.startsWith('ours');
      return row({
        id: ids[figure.subject] as string,
        measurement: MEASUREMENT,
        subject: figure.subject,
        value: figure.medianNsPerOp,
        unit: 'ns/op',
        ratio,
        ratioOf: `fastest peer (${fastestPeer})`,
        target: isOurs ? '<= 0.50x' : null,
        met: isOurs ? ratio <= 0.5 : null,
      });
    });
    return {
      rows,
      raw: { options, figures, fastestPeer },
      notes: [
        'open path: every task ends in .then(noop, noop), so each contender pays for one rejection handler.',
      ],
    };
  } finally {
    opossum.shutdown();
    await ours.close();
    await oursWithFallback.close();
    await store.close();
  }
}

/** An operation under measurement: one call of the subject, awaited by the loop. */
export type Task = () => Promise<unknown>;

export interface Contender {
  readonly subject: string;
  readonly task: Task;
}

export interface LoopOptions {
  /** Calls per timed round. */
  readonly iterations: number;
  /** Timed rounds per contender; contenders alternate (A B C, C B A, ...) round by round. */
  readonly rounds: number;
  /** Untimed calls per contender before the first round, so every contender runs optimised code. */
  readonly warmupIterations: number;
}

/** The figure of one contender: the median round and every round it is the median of. */
export interface ContenderFigure {
  readonly subject: string;
  readonly medianNsPerOp: number;
  readonly roundsNsPerOp: readonly number[];
}

export const noop = (): void => undefined;

export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    throw new Error('the benchmark needs --expose-gc (run it with `node --expose-gc dist/cli.js`)');
  }
  gc();
  gc();
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Nearest-rank percentile, `p` in (0, 100]. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Runs `iterations` sequential, awaited calls of `task`; returns nanoseconds per call. */
export async function timeLoop(task: Task, iterations: number): Promise<number> {
  const started = process.hrtime.bigint();
  for (let index = 0; index < iterations; index += 1) await task();
  return Number(process.hrtime.bigint() - started) / iterations;
}

/**
 * Measures contenders side by side: a warm-up of each, then `rounds` timed rounds in which the
 * contenders take turns, the order reversed every other round so none always runs first (or right
 * after a collection). Each contender's figure is the median of its rounds.
 */
export async function compare(
  contenders: readonly Contender[],
  options: LoopOptions,
): Promise<ContenderFigure[]> {
  for (const contender of contenders) await timeLoop(contender.task, options.warmupIterations);
  const rounds: number[][] = contenders.map(() => []);
  const forward = contenders.map((_, index) => index);
  const backward = [...forward].reverse();
  for (let round = 0; round < options.rounds; round += 1) {
    for (const index of round % 2 === 0 ? forward : backward) {
      collectGarbage();
      const contender = contenders[index] as Contender;
      (rounds[index] as number[]).push(await timeLoop(contender.task, options.iterations));
    }
  }
  return contenders.map((contender, index) => ({
    subject: contender.subject,
    medianNsPerOp: median(rounds[index] as number[]),
    roundsNsPerOp: rounds[index] as number[],
  }));
}

export function figureOf(figures: readonly ContenderFigure[], subject: string): ContenderFigure {
  const figure = figures.find((candidate) => candidate.subject === subject);
  if (figure === undefined) throw new Error(`no figure for ${subject}`);
  return figure;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves once `condition` holds, checking every millisecond; rejects after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(1);
  }
}

import type { HistogramData } from './histogram-data.js';

/** Label values of one sample. */
export type Labels = Readonly<Record<string, string | number>>;

/** One line of the exposition, as prom-client's registry formats it. */
export interface Sample {
  readonly labels: Labels;
  readonly value: number;
  /** The line's name when it differs from the family's (`_bucket`, `_sum`, `_count`). */
  readonly metricName?: string;
}

/** The metric types this package exposes. */
export type MetricType = 'counter' | 'gauge' | 'histogram';

/**
 * A metric family in the shape prom-client's `Registry` reads (`name`, `help`, `type`,
 * `aggregator`, `get()`, `reset()`), filled from this package's own counters when the registry is
 * scraped. prom-client's own `Counter` and `Histogram` hash their labels on every `inc()` and
 * `observe()` (about 150 and 320 ns on the machine the benchmark ran on), which a breaker's call path
 * cannot afford; this family costs nothing until a scrape.
 */
export class MetricFamily {
  /** Not readonly: prom-client renames counters (drops `_total`) when it serves OpenMetrics. */
  name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly aggregator: 'sum' | 'max';
  readonly #collect: () => Sample[];
  readonly #reset: () => void;

  constructor(
    name: string,
    help: string,
    type: MetricType,
    collect: () => Sample[],
    reset: () => void = () => undefined,
    aggregator: 'sum' | 'max' = 'sum',
  ) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.#collect = collect;
    this.#reset = reset;
    this.aggregator = aggregator;
  }

  /** What prom-client's registry formats; called on every scrape. */
  get(): {
    name: string;
    help: string;
    type: MetricType;
    values: Sample[];
    aggregator: 'sum' | 'max';
  } {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values: this.#collect(),
      aggregator: this.aggregator,
    };
  }

  /** `registry.resetMetrics()`: counters and histograms start over; gauges are read live anyway. */
  reset(): void {
    this.#reset();
  }
}

/** The `_bucket` (cumulative, `le`), `_sum` and `_count` lines of one histogram series. */
export function histogramSamples(name: string, labels: Labels, data: HistogramData, into: Sample[]): void {
  let cumulative = 0;
  const bounds = data.bounds;
  for (let index = 0; index < bounds.length; index += 1) {
    cumulative += data.counts[index] as number;
    into.push({
      metricName: `${name}_bucket`,
      labels: { ...labels, le: bounds[index] as number },
      value: cumulative,
    });
  }
  cumulative += data.counts[bounds.length] as number;
  into.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
  into.push({ metricName: `${name}_sum`, labels, value: data.sum });
  into.push({ metricName: `${name}_count`, labels, value: data.count });
}

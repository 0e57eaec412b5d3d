import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { createCircuitBreaker } from '@xnai/cb-core';
import { createOpenTelemetryMetrics } from '@xnai/cb-opentelemetry';
import { createPrometheusMetrics } from '@xnai/cb-prometheus';
import { MemoryStateStore } from '@xnai/cb-store-memory';
import { Registry } from 'prom-client';
import type { BenchContext } from './context.js';
import { compare, figureOf } from './harness.js';
import { type MeasurementResult, row } from './report.js';

const MEASUREMENT = '9 metrics overhead';
const TARGET_NS = 50;

/**
 * The cost of metrics on a call: the same closed-path `await breaker.execute(fn)` without metrics,
 * with a no-op per-call listener (what cb-core's per-call events cost by themselves), with
 * `@xnai/cb-prometheus` bound to a prom-client registry, and with `@xnai/cb-opentelemetry` bound to
 * an OpenTelemetry SDK meter. Target: prom-client attached costs at most 50 ns more per call.
 */
export async function measureMetricsOverhead(context: BenchContext): Promise<MeasurementResult> {
  const fn = async (): Promise<number> => 42;
  const store = new MemoryStateStore();
  const none = createCircuitBreaker({ name: 'metrics-none', store });
  const listened = createCircuitBreaker({ name: 'metrics-listener', store });
  let heard = 0;
  const listener = listened.onCall(() => {
    heard += 1;
  });
  const register = new Registry();
  const prometheus = createPrometheusMetrics({ register });
  const withPrometheus = createCircuitBreaker({ name: 'metrics-prometheus', store });
  prometheus.bindBreaker(withPrometheus);
  const provider = new MeterProvider();
  const opentelemetry = createOpenTelemetryMetrics({ meter: provider.getMeter('benchmark') });
  const withOpenTelemetry = createCircuitBreaker({ name: 'metrics-opentelemetry', store });
  opentelemetry.bindBreaker(withOpenTelemetry);
  try {
    for (const breaker of [none, listened, withPrometheus, withOpenTelemetry]) await breaker.execute(fn);
    const options = context.quick
      ? { iterations: 5_000, rounds: 3, warmupIterations: 5_000 }
      : { iterations: 200_000, rounds: 9, warmupIterations: 100_000 };
    const figures = await compare(
      [
        { subject: 'no metrics', task: () => none.execute(fn) },
        { subject: 'no-op onCall listener', task: () => listened.execute(fn) },
        { subject: 'prom-client attached', task: () => withPrometheus.execute(fn) },
        { subject: 'OpenTelemetry attached', task: () => withOpenTelemetry.execute(fn) },
      ],
      options,
    );
    const base = figureOf(figures, 'no metrics').medianNsPerOp;
    const listenerNs = figureOf(figures, 'no-op onCall listener').medianNsPerOp;
    const prometheusNs = figureOf(figures, 'prom-client attached').medianNsPerOp;
    const openTelemetryNs = figureOf(figures, 'OpenTelemetry attached').medianNsPerOp;
    // The counts must have been taken, or the figure measured nothing.
    const scraped = await register.metrics();
    if (!scraped.includes('circuit_breaker_calls_total{name="metrics-prometheus",outcome="success"}')) {
      throw new Error('metrics overhead: prom-client registry counted nothing');
    }
    const ids: Record<string, string> = {
      'no metrics': 'metrics.none',
      'no-op onCall listener': 'metrics.listener',
      'prom-client attached': 'metrics.prometheus',
      'OpenTelemetry attached': 'metrics.opentelemetry',
    };
    const rows = figures.map((figure) => {
      const isPrometheus = figure.subject === 'prom-client attached';
      return row({
        id: ids[figure.subject] as string,
        measurement: MEASUREMENT,
        subject: figure.subject,
        value: figure.medianNsPerOp,
        unit: 'ns/op',
        ratio: figure.medianNsPerOp / base,
        ratioOf: 'no metrics',
        target: isPrometheus ? `<= +${TARGET_NS} ns` : null,
        met: isPrometheus ? prometheusNs - base <= TARGET_NS : null,
        remedy: isPrometheus
          ? "most of it is cb-core's per-call event (the no-op listener row); that event's cost is the lever (one clock read per call, no event object without listeners), cb-prometheus's own share is the next row"
          : null,
      });
    });
    rows.push(
      row({
        id: 'metrics.prometheus-above-listener',
        measurement: MEASUREMENT,
        subject: "cb-prometheus's own share (prom-client minus no-op listener)",
        value: prometheusNs - listenerNs,
        unit: 'ns/op',
        target: `<= +${TARGET_NS} ns`,
        met: prometheusNs - listenerNs <= TARGET_NS,
      }),
    );
    return {
      rows,
      raw: {
        options,
        figures,
        heard,
        addedNs: {
          listener: listenerNs - base,
          prometheus: prometheusNs - base,
          opentelemetry: openTelemetryNs - base,
        },
      },
      notes: [
        `metrics: prom-client attached adds ${(prometheusNs - base).toFixed(0)} ns per call, of which ${(listenerNs - base).toFixed(0)} ns is cb-core's per-call event (two clock reads and an event object, paid by any listener) and ${(prometheusNs - listenerNs).toFixed(0)} ns cb-prometheus's counting; OpenTelemetry adds ${(openTelemetryNs - base).toFixed(0)} ns (its histogram is recorded per call).`,
      ],
    };
  } finally {
    listener.dispose();
    prometheus.close();
    opentelemetry.close();
    await provider.shutdown();
    for (const breaker of [none, listened, withPrometheus, withOpenTelemetry]) await breaker.close();
    await store.close();
  }
}

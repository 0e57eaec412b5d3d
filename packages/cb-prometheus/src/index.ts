export { METRIC_NAMES, type MetricNaming, RESILIENCE4J_NAMES } from './names.js';
export {
  createPrometheusMetrics,
  DEFAULT_DURATION_BUCKETS,
  DEFAULT_STORE_BUCKETS,
  PrometheusMetrics,
  type PrometheusMetricsOptions,
} from './prometheus-metrics.js';

export {
  ATTRIBUTES,
  createOpenTelemetryMetrics,
  DEFAULT_DURATION_BOUNDARIES,
  DEFAULT_STORE_BOUNDARIES,
  INSTRUMENT_NAMES,
  OpenTelemetryMetrics,
  type OpenTelemetryMetricsOptions,
} from './opentelemetry-metrics.js';

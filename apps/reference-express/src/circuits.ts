import type { CircuitBreakerConfig } from '@xnai/cb-registry';
import type { DependencyName } from './simulation.js';
import { EXTERNAL_API_ORIGIN } from './upstream.js';

/**
 * The circuits of the app, with short open periods so that a demo shows open, half-open and closed
 * within seconds (the seed's defaults are 60 s growing to 300 s).
 */
export const DATABASE_CIRCUIT = 'database';
export const CACHE_CIRCUIT = 'cache';
/** The name `@xnai/cb-fetch` gives the external API's circuit (`fetch:` + origin). */
export const EXTERNAL_API_CIRCUIT = `fetch:${EXTERNAL_API_ORIGIN}`;

/** Orders and the product catalogue live in the database: a failure-rate window over the last 20 calls. */
export const DATABASE_CONFIG: CircuitBreakerConfig = Object.freeze({
  failureThreshold: 5,
  slidingWindow: Object.freeze({ type: 'count', size: 20 }),
  failureRateThreshold: 0.5,
  minimumCalls: 10,
  successThreshold: 2,
  halfOpenMaxCalls: 2,
  openTimeoutMs: 10_000,
  maxOpenTimeoutMs: 60_000,
  callTimeoutMs: 1_000,
});

/** The cache behind the catalogue's stale-data tier. */
export const CACHE_CONFIG: CircuitBreakerConfig = Object.freeze({
  failureThreshold: 3,
  successThreshold: 2,
  openTimeoutMs: 5_000,
  maxOpenTimeoutMs: 30_000,
  callTimeoutMs: 250,
});

/** The external API's breaker, created by `@xnai/cb-fetch` in the registry. */
export const EXTERNAL_API_CONFIG = Object.freeze({
  failureThreshold: 5,
  successThreshold: 2,
  openTimeoutMs: 10_000,
  maxOpenTimeoutMs: 60_000,
  callTimeoutMs: 2_000,
});

/** Which simulated dependency each circuit protects. */
export const PROTECTS: Readonly<Record<string, DependencyName>> = Object.freeze({
  [DATABASE_CIRCUIT]: 'database',
  [CACHE_CIRCUIT]: 'cache',
  [EXTERNAL_API_CIRCUIT]: 'externalApi',
});

import type { RedisManagerErrorCode } from './errors/redis-manager-error.js';

/**
 * The manager's mode.
 * - `idle`: constructed, `connect()` not called yet.
 * - `connecting`: inside `connect()`'s attempts (`fallbackMode` is already true once one failed).
 * - `connected`: Redis is usable; `execute` touches the network.
 * - `fallback`: Redis is not usable; `execute` rejects at once, probes run in the background.
 * - `closed`: `disconnect()` was called.
 */
export type ConnectionMode = 'idle' | 'connecting' | 'connected' | 'fallback' | 'closed';

/** The last connection-level error, redacted. */
export interface LastErrorInfo {
  code: RedisManagerErrorCode;
  message: string;
  /** Epoch milliseconds. */
  at: number;
}

/** Snapshot returned by {@link RedisConnectionManager.getHealthStatus}. Contains no credentials. */
export interface RedisHealthStatus {
  /** Seed: `connected`. */
  connected: boolean;
  /**
   * Seed: `fallback_mode`. True whenever callers must use their fallback because Redis failed or
   * the manager is closed: in mode `fallback`, in mode `connecting` once an attempt has failed, and
   * after `disconnect()` (mode `closed`, as the seed's test expects). False before `connect()`
   * (`idle`), during a first attempt that has not failed yet, and while connected.
   */
  fallbackMode: boolean;
  /** The current mode (see {@link ConnectionMode}). */
  mode: ConnectionMode;
  /** Seed: `host`. */
  host: string;
  /** Seed: `port`. */
  port: number;
  /** Seed: `db`. */
  db: number;
  /** Seed: `max_connections`. */
  maxConnections: number;
  /** Seed: `pool_size`: command connections currently open (not counting the subscriber). */
  poolSize: number;
  /** Median latency of recent successful operations and probes, or null before the first. */
  latencyP50Ms: number | null;
  /** 99th percentile latency of recent successful operations and probes, or null before the first. */
  latencyP99Ms: number | null;
  /** Number of latency samples behind the percentiles (at most 1024). */
  latencySamples: number;
  /** Current (adaptive) connection timeout. */
  connectionTimeoutMs: number;
  /** Seed: `socket_timeout`, in milliseconds. */
  socketTimeoutMs: number;
  /** Default timeout of `execute` and of each probe. */
  operationTimeoutMs: number;
  /** Connection-level failures since the last success. */
  consecutiveFailures: number;
  /** Time spent in the current mode. */
  timeInModeMs: number;
  /** How many times fallback mode was entered since construction. */
  fallbackEntries: number;
  /** The last connection-level error (code `ERR_REDIS_AUTHENTICATION`, `ERR_REDIS_TLS`, ...), or null. */
  lastError: LastErrorInfo | null;
  /**
   * True while Redis refuses the credentials (WRONGPASS, NOAUTH): an operator must fix the password
   * or ACL; the manager retries by itself (1 s doubling up to 30 s) and connects once it is fixed.
   */
  authenticationFailed: boolean;
  /** Idle timeout of pooled connections beyond the first. */
  idleConnectionTimeoutMs: number;
  /** The dedicated Pub/Sub connection: whether it is ready, and how many channels it serves. */
  subscriber: { connected: boolean; channels: number };
}

import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import {
  assertBoolean,
  assertClock,
  assertDelayMs,
  assertFunction,
  assertInteger,
  assertNonEmptyString,
  assertSecretString,
  type Clock,
  createOptionsReader,
  describeValue,
  systemClock,
  type TimerProvider,
} from '@xnai/kit';
import { CREATE_CLIENT, type CreateClient, createIoredisClient } from './client-factory.js';
import { parseRedisUrl } from './redis-url.js';

/** A Sentinel to ask for the current master. */
export interface SentinelAddress {
  host: string;
  port: number;
}

/** Options of {@link RedisConnectionManager}. Every duration is in milliseconds. */
export interface RedisConnectionOptions {
  /**
   * `redis://[[username][:password]@]host[:port][/db]`, or `rediss://` for TLS. Parts present in the URL
   * win over `host`, `port`, `username`, `password` and `db`; those options fill what the URL leaves out.
   * @default undefined (host, port and the other options are used)
   */
  url?: string;
  /** @default 'localhost' */
  host?: string;
  /** @default 6379 */
  port?: number;
  /** ACL user name (Redis 6+). @default undefined (the `default` user) */
  username?: string;
  /** Never shown in status, events or error messages. @default undefined (no AUTH) */
  password?: string;
  /** Database index. @default 0 */
  db?: number;
  /**
   * `true` or Node TLS options (`tls.connect()`'s) to use TLS. What a private CA needs:
   * - `ca`: the CA certificate(s) (PEM string, Buffer, or an array of them) to trust instead of
   *   Node's bundled roots;
   * - `servername`: the name the certificate must carry when it differs from `host` (SNI and the
   *   host name check);
   * - `rejectUnauthorized`: `false` turns certificate checks off (never in production). Default `true`.
   *
   * An untrusted certificate never crashes the process: `connect()` rejects with
   * {@link RedisTlsError}, the manager stays in fallback mode and retries with a capped backoff.
   * @default true for `rediss://` URLs, otherwise false
   */
  tls?: boolean | TlsConnectionOptions;
  /** Most command connections in the pool (the subscriber connection is extra). @default 50 */
  maxConnections?: number;
  /**
   * A pooled command connection other than the first that has had nothing to do for this long is
   * closed, so the pool shrinks back after a burst. @default 30000
   */
  idleConnectionTimeoutMs?: number;
  /** Health check period while connected. @default 30000 */
  healthCheckIntervalMs?: number;
  /** Grow the connection timeout ×1.5 per consecutive failure up to `maxConnectionTimeoutMs`. @default true */
  adaptiveTimeout?: boolean;
  /** Timeout of one connection attempt (the base of the adaptive timeout). @default 5000 */
  connectionTimeoutMs?: number;
  /** Cap of the adaptive connection timeout. @default 30000 */
  maxConnectionTimeoutMs?: number;
  /** A connection that gets no data for this long while a reply is pending is destroyed. @default 10000 */
  socketTimeoutMs?: number;
  /**
   * Default timeout of one {@link RedisConnectionManager.execute} call. A timeout is evidence that
   * Redis cannot be used and switches to fallback mode. Must be below `socketTimeoutMs`.
   * @default 250
   */
  operationTimeoutMs?: number;
  /** Health probe period while in fallback mode. @default 100 */
  fallbackProbeIntervalMs?: number;
  /** Consecutive healthy probes needed to leave fallback mode (hysteresis). @default 3 */
  recoveryThreshold?: number;
  /** Cap of the exponential reconnect backoff (50 ms, 100 ms, 200 ms, ... plus up to 10 % jitter). @default 250 */
  reconnectMaxDelayMs?: number;
  /** `CLIENT SETNAME` of every connection. @default 'xnai-cb' */
  connectionName?: string;
  /**
   * Connect through Redis Sentinel; `sentinelName` is then required and host/port are ignored.
   * @default undefined (no Sentinel)
   */
  sentinels?: readonly SentinelAddress[];
  /** Master group name when `sentinels` is set. @default undefined */
  sentinelName?: string;
  /** Password for the Sentinels themselves. @default undefined */
  sentinelPassword?: string;
  /**
   * Time and timers: `now()` for the epoch times of events and status, `monotonic()` (when present,
   * else `now()`) for durations (latencies, timeouts, idle times, time in mode), `setTimeout` and
   * `clearTimeout` for every timer. Timers it creates must not keep the process alive. Inject one to
   * control time in tests.
   * @default systemClock (`Date.now`, `performance.now`, unref'd global timers)
   */
  clock?: Clock & TimerProvider;
}

/** The defaults of {@link RedisConnectionOptions}, frozen. */
export const DEFAULT_REDIS_CONNECTION_OPTIONS = Object.freeze({
  host: 'localhost',
  port: 6379,
  db: 0,
  maxConnections: 50,
  idleConnectionTimeoutMs: 30_000,
  healthCheckIntervalMs: 30_000,
  adaptiveTimeout: true,
  connectionTimeoutMs: 5_000,
  maxConnectionTimeoutMs: 30_000,
  socketTimeoutMs: 10_000,
  operationTimeoutMs: 250,
  fallbackProbeIntervalMs: 100,
  recoveryThreshold: 3,
  reconnectMaxDelayMs: 250,
  connectionName: 'xnai-cb',
  clock: systemClock as Clock & TimerProvider,
} as const);

/** @internal */
export interface ResolvedOptions {
  host: string;
  port: number;
  username: string | undefined;
  password: string | undefined;
  db: number;
  tls: TlsConnectionOptions | undefined;
  maxConnections: number;
  idleConnectionTimeoutMs: number;
  healthCheckIntervalMs: number;
  adaptiveTimeout: boolean;
  connectionTimeoutMs: number;
  maxConnectionTimeoutMs: number;
  socketTimeoutMs: number;
  operationTimeoutMs: number;
  fallbackProbeIntervalMs: number;
  recoveryThreshold: number;
  reconnectMaxDelayMs: number;
  connectionName: string;
  sentinels: SentinelAddress[] | undefined;
  sentinelName: string | undefined;
  sentinelPassword: string | undefined;
  clock: Clock & TimerProvider;
  createClient: CreateClient;
}

/** The seed's Python names, so a ported configuration fails with a pointer to the right name. */
const SEED_NAMES: Record<string, string> = {
  redis_url: 'url',
  max_connections: 'maxConnections',
  health_check_interval: 'healthCheckIntervalMs (milliseconds)',
  adaptive_timeout: 'adaptiveTimeout',
  connection_timeout: 'connectionTimeoutMs (milliseconds)',
  socket_timeout: 'socketTimeoutMs (milliseconds)',
};

const readOptions = createOptionsReader(DEFAULT_REDIS_CONNECTION_OPTIONS, {
  // No fixed default: absent means none (credentials, TLS by URL scheme, no Sentinel).
  extraKeys: ['url', 'username', 'password', 'tls', 'sentinels', 'sentinelName', 'sentinelPassword'],
  hints: SEED_NAMES,
});

function port(name: string, value: unknown): number {
  return assertInteger(name, value, 1, 65_535);
}

function isCertificateList(value: unknown): boolean {
  const isOne = (entry: unknown) => typeof entry === 'string' || Buffer.isBuffer(entry);
  return isOne(value) || (Array.isArray(value) && value.length > 0 && value.every(isOne));
}

/** Checks the TLS fields a private CA needs; the others go to Node as they are. */
function tlsOptions(value: Record<string, unknown>): TlsConnectionOptions {
  if (value.ca !== undefined && !isCertificateList(value.ca)) {
    throw new TypeError(
      `tls.ca must be a PEM string, a Buffer or a non-empty array of them, got ${describeValue(value.ca)}`,
    );
  }
  if (value.rejectUnauthorized !== undefined)
    assertBoolean('tls.rejectUnauthorized', value.rejectUnauthorized);
  if (value.servername !== undefined) assertNonEmptyString('tls.servername', value.servername);
  return value as TlsConnectionOptions;
}

/**
 * Validates options once, at construction.
 * @internal
 * @throws TypeError for a wrong type or unknown option, RangeError for a value out of range.
 */
export function resolveOptions(options: RedisConnectionOptions | undefined): ResolvedOptions {
  const given = readOptions(options === undefined ? {} : options);

  const fromUrl = given.url === undefined ? undefined : parseRedisUrl(assertNonEmptyString('url', given.url));

  const host = fromUrl?.host ?? assertNonEmptyString('host', given.host);
  const resolvedPort = fromUrl?.port ?? port('port', given.port);
  const username =
    fromUrl?.username ??
    (given.username === undefined ? undefined : assertSecretString('username', given.username));
  const password =
    fromUrl?.password ??
    (given.password === undefined ? undefined : assertSecretString('password', given.password));
  const db = fromUrl?.db ?? assertInteger('db', given.db, 0);

  const tlsOption = given.tls;
  let tls: TlsConnectionOptions | undefined;
  if (tlsOption === undefined) tls = fromUrl?.tls ? {} : undefined;
  else if (tlsOption === true) tls = {};
  else if (tlsOption === false) tls = undefined;
  else if (typeof tlsOption === 'object' && tlsOption !== null && !Array.isArray(tlsOption)) {
    tls = tlsOptions(tlsOption as Record<string, unknown>);
  } else throw new TypeError(`tls must be a boolean or TLS options object, got ${describeValue(tlsOption)}`);
  if (fromUrl?.tls && tlsOption === false) {
    throw new RangeError('tls must not be false with a rediss:// url, got false');
  }

  const adaptiveTimeout = assertBoolean('adaptiveTimeout', given.adaptiveTimeout);

  const connectionTimeoutMs = assertDelayMs('connectionTimeoutMs', given.connectionTimeoutMs);
  const maxConnectionTimeoutMs = assertDelayMs(
    'maxConnectionTimeoutMs',
    options?.maxConnectionTimeoutMs ??
      Math.max(DEFAULT_REDIS_CONNECTION_OPTIONS.maxConnectionTimeoutMs, connectionTimeoutMs),
  );
  if (maxConnectionTimeoutMs < connectionTimeoutMs) {
    throw new RangeError(
      `maxConnectionTimeoutMs must be at least connectionTimeoutMs (${connectionTimeoutMs}), got ${maxConnectionTimeoutMs}`,
    );
  }
  const socketTimeoutMs = assertDelayMs('socketTimeoutMs', given.socketTimeoutMs);
  const operationTimeoutMs = assertDelayMs(
    'operationTimeoutMs',
    options?.operationTimeoutMs ??
      Math.min(DEFAULT_REDIS_CONNECTION_OPTIONS.operationTimeoutMs, socketTimeoutMs / 2),
  );
  if (operationTimeoutMs >= socketTimeoutMs) {
    throw new RangeError(
      `operationTimeoutMs must be below socketTimeoutMs (${socketTimeoutMs}), got ${operationTimeoutMs}`,
    );
  }

  let sentinels: SentinelAddress[] | undefined;
  const sentinelsOption = given.sentinels;
  if (sentinelsOption !== undefined) {
    if (!Array.isArray(sentinelsOption)) {
      throw new TypeError(
        `sentinels must be an array of { host, port }, got ${describeValue(sentinelsOption)}`,
      );
    }
    if (sentinelsOption.length === 0) throw new RangeError('sentinels must not be empty, got an empty array');
    sentinels = sentinelsOption.map((entry: unknown, index) => {
      if (typeof entry !== 'object' || entry === null) {
        throw new TypeError(`sentinels[${index}] must be { host, port }, got ${describeValue(entry)}`);
      }
      const address = entry as Record<string, unknown>;
      return {
        host: assertNonEmptyString(`sentinels[${index}].host`, address.host),
        port: port(`sentinels[${index}].port`, address.port),
      };
    });
  }
  const sentinelName =
    given.sentinelName === undefined ? undefined : assertNonEmptyString('sentinelName', given.sentinelName);
  if (sentinels !== undefined && sentinelName === undefined) {
    throw new TypeError('sentinelName must be a non-empty string when sentinels is set, got undefined');
  }
  const sentinelPassword =
    given.sentinelPassword === undefined
      ? undefined
      : assertSecretString('sentinelPassword', given.sentinelPassword);

  return {
    host,
    port: resolvedPort,
    username,
    password,
    db,
    tls,
    maxConnections: assertInteger('maxConnections', given.maxConnections, 1),
    idleConnectionTimeoutMs: assertDelayMs('idleConnectionTimeoutMs', given.idleConnectionTimeoutMs),
    healthCheckIntervalMs: assertDelayMs('healthCheckIntervalMs', given.healthCheckIntervalMs),
    adaptiveTimeout,
    connectionTimeoutMs,
    maxConnectionTimeoutMs,
    socketTimeoutMs,
    operationTimeoutMs,
    fallbackProbeIntervalMs: assertDelayMs('fallbackProbeIntervalMs', given.fallbackProbeIntervalMs),
    recoveryThreshold: assertInteger('recoveryThreshold', given.recoveryThreshold, 1),
    reconnectMaxDelayMs: assertDelayMs('reconnectMaxDelayMs', given.reconnectMaxDelayMs),
    connectionName: assertNonEmptyString('connectionName', given.connectionName),
    sentinels,
    sentinelName,
    sentinelPassword,
    clock: assertClock('clock', given.clock),
    createClient: createClientOption((options as Record<symbol, unknown> | undefined)?.[CREATE_CLIENT]),
  };
}

function createClientOption(value: unknown): CreateClient {
  return value === undefined ? createIoredisClient : assertFunction<CreateClient>('createClient', value);
}

import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { CREATE_CLIENT, type CreateClient, createIoredisClient } from './client-factory.js';
import { type Clock, systemClock, type TimerProvider } from './clock.js';
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
  /** Time source. @default the system clock */
  clock?: Clock;
  /** Timer source; timers it creates must not keep the process alive. @default unref'd global timers */
  timers?: TimerProvider;
}

/** The defaults of {@link RedisConnectionOptions}. */
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
  clock: Clock;
  timers: TimerProvider;
  createClient: CreateClient;
}

const KNOWN_OPTIONS = new Set<string>([
  'url',
  'host',
  'port',
  'username',
  'password',
  'db',
  'tls',
  'maxConnections',
  'idleConnectionTimeoutMs',
  'healthCheckIntervalMs',
  'adaptiveTimeout',
  'connectionTimeoutMs',
  'maxConnectionTimeoutMs',
  'socketTimeoutMs',
  'operationTimeoutMs',
  'fallbackProbeIntervalMs',
  'recoveryThreshold',
  'reconnectMaxDelayMs',
  'connectionName',
  'sentinels',
  'sentinelName',
  'sentinelPassword',
  'clock',
  'timers',
]);

/** The seed's Python names, so a ported configuration fails with a pointer to the right name. */
const SEED_NAMES: Record<string, string> = {
  redis_url: 'url',
  max_connections: 'maxConnections',
  health_check_interval: 'healthCheckIntervalMs (milliseconds)',
  adaptive_timeout: 'adaptiveTimeout',
  connection_timeout: 'connectionTimeoutMs (milliseconds)',
  socket_timeout: 'socketTimeoutMs (milliseconds)',
};

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number')
    throw new TypeError(`${name} must be a positive integer, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

function positiveDuration(name: string, value: unknown): number {
  if (typeof value !== 'number') {
    throw new TypeError(`${name} must be a positive number of milliseconds, got ${describe(value)}`);
  }
  // 2^31-1 is the longest delay setTimeout honours; longer ones fire at once.
  if (!Number.isFinite(value) || value <= 0 || value > 2_147_483_647) {
    throw new RangeError(
      `${name} must be a positive number of milliseconds up to 2147483647, got ${describe(value)}`,
    );
  }
  return value;
}

function nonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string')
    throw new TypeError(`${name} must be a non-empty string, got ${describe(value)}`);
  if (value.length === 0) throw new RangeError(`${name} must be a non-empty string, got ""`);
  return value;
}

function secretString(name: string, value: unknown): string {
  // Never echo the value: it is a secret.
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, got ${typeOf(value)}`);
  return value;
}

function port(name: string, value: unknown): number {
  if (typeof value !== 'number') {
    throw new TypeError(`${name} must be an integer between 1 and 65535, got ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < 1 || value > 65_535) {
    throw new RangeError(`${name} must be an integer between 1 and 65535, got ${describe(value)}`);
  }
  return value;
}

function database(value: unknown): number {
  if (typeof value !== 'number')
    throw new TypeError(`db must be a non-negative integer, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`db must be a non-negative integer, got ${describe(value)}`);
  }
  return value;
}

function isCertificateList(value: unknown): boolean {
  const isOne = (entry: unknown) => typeof entry === 'string' || Buffer.isBuffer(entry);
  return isOne(value) || (Array.isArray(value) && value.length > 0 && value.every(isOne));
}

/** Checks the TLS fields a private CA needs; the others go to Node as they are. */
function tlsOptions(value: Record<string, unknown>): TlsConnectionOptions {
  if (value.ca !== undefined && !isCertificateList(value.ca)) {
    throw new TypeError(
      `tls.ca must be a PEM string, a Buffer or a non-empty array of them, got ${describe(value.ca)}`,
    );
  }
  if (value.rejectUnauthorized !== undefined && typeof value.rejectUnauthorized !== 'boolean') {
    throw new TypeError(
      `tls.rejectUnauthorized must be a boolean, got ${describe(value.rejectUnauthorized)}`,
    );
  }
  if (value.servername !== undefined) nonEmptyString('tls.servername', value.servername);
  return value as TlsConnectionOptions;
}

function isClock(value: unknown): value is Clock {
  return typeof value === 'object' && value !== null && typeof (value as Clock).now === 'function';
}

function isTimerProvider(value: unknown): value is TimerProvider {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as TimerProvider).setTimeout === 'function' &&
    typeof (value as TimerProvider).clearTimeout === 'function'
  );
}

/**
 * Validates options once, at construction.
 * @internal
 * @throws TypeError for a wrong type or unknown option, RangeError for a value out of range.
 */
export function resolveOptions(options: RedisConnectionOptions | undefined): ResolvedOptions {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      const hint = SEED_NAMES[key];
      throw new TypeError(`unknown option "${key}"${hint === undefined ? '' : ` (did you mean ${hint}?)`}`);
    }
  }
  const defaults = DEFAULT_REDIS_CONNECTION_OPTIONS;
  const given = options as Record<string, unknown>;
  const pick = (key: keyof RedisConnectionOptions): unknown => given[key];

  const fromUrl = pick('url') === undefined ? undefined : parseRedisUrl(nonEmptyString('url', pick('url')));

  const host = fromUrl?.host ?? nonEmptyString('host', pick('host') ?? defaults.host);
  const resolvedPort = fromUrl?.port ?? port('port', pick('port') ?? defaults.port);
  const username =
    fromUrl?.username ??
    (pick('username') === undefined ? undefined : secretString('username', pick('username')));
  const password =
    fromUrl?.password ??
    (pick('password') === undefined ? undefined : secretString('password', pick('password')));
  const db = fromUrl?.db ?? database(pick('db') ?? defaults.db);

  const tlsOption = pick('tls');
  let tls: TlsConnectionOptions | undefined;
  if (tlsOption === undefined) tls = fromUrl?.tls ? {} : undefined;
  else if (tlsOption === true) tls = {};
  else if (tlsOption === false) tls = undefined;
  else if (typeof tlsOption === 'object' && tlsOption !== null && !Array.isArray(tlsOption)) {
    tls = tlsOptions(tlsOption as Record<string, unknown>);
  } else throw new TypeError(`tls must be a boolean or TLS options object, got ${describe(tlsOption)}`);
  if (fromUrl?.tls && tlsOption === false) {
    throw new RangeError('tls must not be false with a rediss:// url, got false');
  }

  const adaptiveTimeout = pick('adaptiveTimeout') ?? defaults.adaptiveTimeout;
  if (typeof adaptiveTimeout !== 'boolean') {
    throw new TypeError(`adaptiveTimeout must be a boolean, got ${describe(adaptiveTimeout)}`);
  }

  const connectionTimeoutMs = positiveDuration(
    'connectionTimeoutMs',
    pick('connectionTimeoutMs') ?? defaults.connectionTimeoutMs,
  );
  const maxConnectionTimeoutMs = positiveDuration(
    'maxConnectionTimeoutMs',
    pick('maxConnectionTimeoutMs') ?? Math.max(defaults.maxConnectionTimeoutMs, connectionTimeoutMs),
  );
  if (maxConnectionTimeoutMs < connectionTimeoutMs) {
    throw new RangeError(
      `maxConnectionTimeoutMs must be at least connectionTimeoutMs (${connectionTimeoutMs}), got ${maxConnectionTimeoutMs}`,
    );
  }
  const socketTimeoutMs = positiveDuration(
    'socketTimeoutMs',
    pick('socketTimeoutMs') ?? defaults.socketTimeoutMs,
  );
  const operationTimeoutMs = positiveDuration(
    'operationTimeoutMs',
    pick('operationTimeoutMs') ?? Math.min(defaults.operationTimeoutMs, socketTimeoutMs / 2),
  );
  if (operationTimeoutMs >= socketTimeoutMs) {
    throw new RangeError(
      `operationTimeoutMs must be below socketTimeoutMs (${socketTimeoutMs}), got ${operationTimeoutMs}`,
    );
  }

  let sentinels: SentinelAddress[] | undefined;
  const sentinelsOption = pick('sentinels');
  if (sentinelsOption !== undefined) {
    if (!Array.isArray(sentinelsOption)) {
      throw new TypeError(`sentinels must be an array of { host, port }, got ${describe(sentinelsOption)}`);
    }
    if (sentinelsOption.length === 0) throw new RangeError('sentinels must not be empty, got an empty array');
    sentinels = sentinelsOption.map((entry: unknown, index) => {
      if (typeof entry !== 'object' || entry === null) {
        throw new TypeError(`sentinels[${index}] must be { host, port }, got ${describe(entry)}`);
      }
      const address = entry as Record<string, unknown>;
      return {
        host: nonEmptyString(`sentinels[${index}].host`, address.host),
        port: port(`sentinels[${index}].port`, address.port),
      };
    });
  }
  const sentinelName =
    pick('sentinelName') === undefined ? undefined : nonEmptyString('sentinelName', pick('sentinelName'));
  if (sentinels !== undefined && sentinelName === undefined) {
    throw new TypeError('sentinelName must be a non-empty string when sentinels is set, got undefined');
  }
  const sentinelPassword =
    pick('sentinelPassword') === undefined
      ? undefined
      : secretString('sentinelPassword', pick('sentinelPassword'));

  const clock = pick('clock') ?? systemClock;
  if (!isClock(clock)) throw new TypeError(`clock must be an object with now(), got ${describe(clock)}`);
  const timers = pick('timers') ?? systemClock;
  if (!isTimerProvider(timers)) {
    throw new TypeError(
      `timers must be an object with setTimeout() and clearTimeout(), got ${describe(timers)}`,
    );
  }

  return {
    host,
    port: resolvedPort,
    username,
    password,
    db,
    tls,
    maxConnections: positiveInteger('maxConnections', pick('maxConnections') ?? defaults.maxConnections),
    idleConnectionTimeoutMs: positiveDuration(
      'idleConnectionTimeoutMs',
      pick('idleConnectionTimeoutMs') ?? defaults.idleConnectionTimeoutMs,
    ),
    healthCheckIntervalMs: positiveDuration(
      'healthCheckIntervalMs',
      pick('healthCheckIntervalMs') ?? defaults.healthCheckIntervalMs,
    ),
    adaptiveTimeout,
    connectionTimeoutMs,
    maxConnectionTimeoutMs,
    socketTimeoutMs,
    operationTimeoutMs,
    fallbackProbeIntervalMs: positiveDuration(
      'fallbackProbeIntervalMs',
      pick('fallbackProbeIntervalMs') ?? defaults.fallbackProbeIntervalMs,
    ),
    recoveryThreshold: positiveInteger(
      'recoveryThreshold',
      pick('recoveryThreshold') ?? defaults.recoveryThreshold,
    ),
    reconnectMaxDelayMs: positiveDuration(
      'reconnectMaxDelayMs',
      pick('reconnectMaxDelayMs') ?? defaults.reconnectMaxDelayMs,
    ),
    connectionName: nonEmptyString('connectionName', pick('connectionName') ?? defaults.connectionName),
    sentinels,
    sentinelName,
    sentinelPassword,
    clock,
    timers,
    createClient: createClientOption((options as Record<symbol, unknown>)[CREATE_CLIENT]),
  };
}

function createClientOption(value: unknown): CreateClient {
  if (value === undefined) return createIoredisClient;
  if (typeof value !== 'function')
    throw new TypeError(`createClient must be a function, got ${describe(value)}`);
  return value as CreateClient;
}

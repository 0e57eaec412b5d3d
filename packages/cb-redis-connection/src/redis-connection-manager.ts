import { Redis, type RedisOptions } from 'ioredis';
import { AdaptiveTimeout } from './adaptive-timeout.js';
import { classifyError, isAuthenticationFailure, sanitizeCause } from './classify-error.js';
import type { TimerHandle } from './clock.js';
import { RedisAuthenticationError } from './errors/redis-authentication-error.js';
import type { RedisManagerError } from './errors/redis-manager-error.js';
import { RedisTimeoutError } from './errors/redis-timeout-error.js';
import { RedisUnavailableError } from './errors/redis-unavailable-error.js';
import type {
  ConnectionErrorEvent,
  FallbackEnteredEvent,
  FallbackReason,
  RecoveredEvent,
  SubscriberReconnectedEvent,
} from './events.js';
import type { ConnectionMode, LastErrorInfo, RedisHealthStatus } from './health-status.js';
import { LatencyWindow } from './latency-window.js';
import { ListenerSet } from './listener-set.js';
import { type RedisConnectionOptions, type ResolvedOptions, resolveOptions } from './options.js';

/** Waits before `connect()`'s attempts, as in the seed: immediately, after 1 s, after 2 s. */
const CONNECT_ATTEMPT_DELAYS_MS = [0, 1_000, 2_000] as const;
/** First reconnect delay; it doubles per attempt up to `reconnectMaxDelayMs`. */
const RECONNECT_BASE_DELAY_MS = 50;
/** How long `disconnect()` waits for one connection to end before moving on. */
const CLOSE_WAIT_MS = 1_000;

/** Options of one {@link RedisConnectionManager.execute} call. */
export interface ExecuteOptions {
  /** Overrides `operationTimeoutMs` for this call. */
  timeoutMs?: number;
}

type LegacyRedisOptions = RedisOptions & { replyMapping?: 'legacy' };

interface PooledConnection {
  readonly client: Redis;
  readonly role: 'command' | 'subscriber';
  inFlight: number;
  ready: boolean;
  wasReady: boolean;
  /** False during `connect()`'s own attempts, so ioredis does not retry behind our back. */
  autoReconnect: boolean;
  lastRawError: unknown;
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${String(value)}`);
}

function noop(): void {}

/**
 * A Redis connection manager that never hangs: a pool of command connections, one subscriber
 * connection, health checks, adaptive connection timeouts, and a fallback mode entered on the first
 * evidence that Redis cannot be used. Port of the seed's `RedisConnectionManager`.
 *
 * @example
 * await using redis = new RedisConnectionManager({ url: 'redis://localhost:6379' });
 * if (await redis.connect()) {
 *   await redis.execute((client) => client.set('key', 'value'));
 * }
 */
export class RedisConnectionManager implements AsyncDisposable {
  readonly #options: ResolvedOptions;
  readonly #adaptive: AdaptiveTimeout;
  readonly #latency = new LatencyWindow();
  readonly #secrets: readonly (string | undefined)[];
  readonly #endpoint: string;

  #mode: ConnectionMode = 'idle';
  #modeSince: number;
  #pool: PooledConnection[] = [];
  #growing = false;
  #subscriber: PooledConnection | undefined;
  #subscriberReadyCount = 0;
  readonly #channels = new Map<string, Set<(message: string) => void>>();

  #connecting: Promise<boolean> | undefined;
  #closing: Promise<void> | undefined;
  #cancelSleep: (() => void) | undefined;
  #healthTimer: TimerHandle | undefined;
  #probing = false;
  #healthyProbes = 0;
  #consecutiveFailures = 0;
  #fallbackEntries = 0;
  #lastError: LastErrorInfo | null = null;
  #lastEmittedError: string | undefined;

  readonly #fallbackListeners: ListenerSet<FallbackEnteredEvent>;
  readonly #recoveredListeners: ListenerSet<RecoveredEvent>;
  readonly #errorListeners: ListenerSet<ConnectionErrorEvent>;
  readonly #reconnectedListeners: ListenerSet<SubscriberReconnectedEvent>;

  /**
   * Validates every option; connects nothing until {@link connect}.
   * @throws TypeError for an unknown option or a wrong type, RangeError for a value out of range;
   * the message names the option and the value, e.g. `maxConnections must be a positive integer, got 0`.
   */
  constructor(options?: RedisConnectionOptions) {
    this.#options = resolveOptions(options);
    const { host, port, db, password, username, sentinelPassword, sentinels, sentinelName } = this.#options;
    this.#secrets = [password, sentinelPassword, username];
    this.#endpoint =
      sentinels === undefined ? `${host}:${port}/${db}` : `sentinel master "${sentinelName}"/${db}`;
    this.#adaptive = new AdaptiveTimeout(
      this.#options.connectionTimeoutMs,
      this.#options.maxConnectionTimeoutMs,
      this.#options.adaptiveTimeout,
    );
    this.#modeSince = this.#options.clock.now();
    // A throwing listener must not break the manager; report it as an error event, but never
    // from an error listener itself (that could loop).
    const reportListenerError = (error: unknown) => this.#emitError(error);
    this.#fallbackListeners = new ListenerSet(reportListenerError);
    this.#recoveredListeners = new ListenerSet(reportListenerError);
    this.#reconnectedListeners = new ListenerSet(reportListenerError);
    this.#errorListeners = new ListenerSet(noop);
  }

  /** True while Redis is usable (seed: `is_connected`). */
  get isConnected(): boolean {
    return this.#mode === 'connected';
  }

  /** True while Redis is not usable and callers should use their fallback (seed: `fallback_mode`). */
  get fallbackMode(): boolean {
    return this.#mode === 'fallback';
  }

  /** The current mode. */
  get mode(): ConnectionMode {
    return this.#mode;
  }

  /** Default timeout of {@link execute}. */
  get operationTimeoutMs(): number {
    return this.#options.operationTimeoutMs;
  }

  /**
   * Connects with up to three attempts (immediately, after 1 s, after 2 s), each bounded by the
   * current connection timeout. If all fail, enters fallback mode, keeps reconnecting in the
   * background and resolves `false`. Never rejects because Redis is unreachable.
   *
   * @returns whether Redis is connected.
   * @throws RedisAuthenticationError when Redis rejects the credentials (no retry: a wrong password
   * does not heal by itself).
   * @throws RedisUnavailableError (reason `closed`) after {@link disconnect}.
   */
  connect(): Promise<boolean> {
    switch (this.#mode) {
      case 'closed':
        return Promise.reject(new RedisUnavailableError('closed', 'connect() called after disconnect()'));
      case 'connected':
        return Promise.resolve(true);
      case 'fallback':
        return Promise.resolve(false);
      case 'connecting':
      case 'idle':
        break;
      default:
        assertNever(this.#mode);
    }
    this.#connecting ??= this.#connectWithRetries().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connectWithRetries(): Promise<boolean> {
    this.#setMode('connecting');
    const primary = this.#pool[0] ?? this.#addConnection(false);
    let lastError: RedisManagerError = new RedisUnavailableError('not-connected', 'not connected');
    for (const delayMs of CONNECT_ATTEMPT_DELAYS_MS) {
      if (delayMs > 0) await this.#sleep(delayMs);
      if (this.#isClosed()) return false;
      const timeoutMs = this.#adaptive.currentMs;
      primary.client.options.connectTimeout = timeoutMs;
      primary.lastRawError = undefined;
      const failuresBefore = this.#consecutiveFailures;
      try {
        await this.#withTimeout(primary.client.connect(), timeoutMs, () => {
          return new RedisTimeoutError(
            timeoutMs,
            `connecting to Redis at ${this.#endpoint} timed out after ${timeoutMs} ms`,
          );
        });
        if (this.#isClosed()) return false;
        primary.autoReconnect = true;
        this.#recordSuccess();
        this.#setMode('connected');
        this.#scheduleHealthCheck(this.#options.healthCheckIntervalMs);
        if (this.#channels.size > 0) this.#ensureSubscriber();
        return true;
      } catch (error) {
        if (this.#isClosed()) return false;
        // Our timeout fired while ioredis still waits (a handshake hanging after the TCP connect on a
        // blackholed or frozen Redis): close that attempt before the next one.
        await this.#closeClient(primary.client);
        if (this.#isClosed()) return false;
        const raw = primary.lastRawError ?? error;
        if (isAuthenticationFailure(raw)) {
          this.#setMode('idle');
          const authError = this.#toManagerError(raw);
          this.#recordLastError(authError);
          throw authError;
        }
        lastError = this.#toManagerError(raw);
        if (this.#consecutiveFailures === failuresBefore) this.#recordFailure(lastError);
      }
    }
    this.#enterFallback('connect-failed', lastError);
    primary.autoReconnect = true;
    primary.client.options.connectTimeout = this.#adaptive.currentMs;
    primary.client.connect().catch(noop);
    if (this.#channels.size > 0) this.#ensureSubscriber();
    return false;
  }

  /**
   * Closes every connection and cancels the health loop. Idempotent; once it resolves no timer,
   * socket or listener of this manager keeps the process alive. Later calls of {@link execute}
   * reject with {@link RedisUnavailableError} (reason `closed`).
   */
  disconnect(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Same as {@link disconnect}; lets `await using` own the manager. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.disconnect();
  }

  async #close(): Promise<void> {
    this.#setMode('closed');
    this.#cancelSleep?.();
    if (this.#healthTimer !== undefined) this.#options.timers.clearTimeout(this.#healthTimer);
    this.#healthTimer = undefined;
    const connections = [...this.#pool, ...(this.#subscriber === undefined ? [] : [this.#subscriber])];
    this.#pool = [];
    this.#subscriber = undefined;
    await Promise.all(connections.map((connection) => this.#closeClient(connection.client)));
    this.#channels.clear();
    this.#fallbackListeners.clear();
    this.#recoveredListeners.clear();
    this.#errorListeners.clear();
    this.#reconnectedListeners.clear();
  }

  #closeClient(client: Redis): Promise<void> {
    if (client.status === 'end') return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(finish, CLOSE_WAIT_MS);
      function finish() {
        clearTimeout(timer);
        client.off('end', finish);
        resolve();
      }
      client.once('end', finish);
      client.disconnect();
      if (client.status === 'end') finish();
    });
  }

  /**
   * Runs `operation` on a pooled connection under the operation timeout and records its latency.
   *
   * - Connection errors and timeouts switch to fallback mode at once and reject with
   *   {@link RedisUnavailableError} or {@link RedisTimeoutError}.
   * - A {@link RedisTimeoutError} means the outcome is unknown: the command may still run later.
   * - Redis error replies reject with {@link RedisCommandError} (`replyCode` is the reply's prefix)
   *   and are not evidence against Redis, except READONLY, LOADING and MASTERDOWN, which reject with
   *   {@link RedisUnavailableError} (reason `server-unusable`) and switch to fallback mode.
   * - In fallback mode (or before `connect()` succeeded, or after `disconnect()`) it rejects at once
   *   with {@link RedisUnavailableError} without touching the network.
   * - Errors thrown by `operation`'s own code (not by Redis) come out unchanged.
   *
   * Keep `operation` to Redis I/O: its whole duration counts against the timeout.
   */
  execute<T>(operation: (client: Redis) => Promise<T>, options?: ExecuteOptions): Promise<T> {
    if (typeof operation !== 'function') {
      return Promise.reject(new TypeError(`operation must be a function, got ${typeof operation}`));
    }
    const timeoutMs = options?.timeoutMs ?? this.#options.operationTimeoutMs;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      return Promise.reject(
        new RangeError(`timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`),
      );
    }
    switch (this.#mode) {
      case 'connected':
        break;
      case 'fallback':
        return Promise.reject(
          new RedisUnavailableError('fallback', `Redis at ${this.#endpoint} is in fallback mode`, {
            cause: this.#lastError ?? undefined,
          }),
        );
      case 'idle':
      case 'connecting':
        return Promise.reject(
          new RedisUnavailableError('not-connected', `Redis at ${this.#endpoint} is not connected yet`),
        );
      case 'closed':
        return Promise.reject(new RedisUnavailableError('closed', 'the connection manager is closed'));
      default:
        assertNever(this.#mode);
    }
    const connection = this.#pickReady();
    if (connection === undefined) {
      const error = new RedisUnavailableError(
        'connection-lost',
        `no connection to Redis at ${this.#endpoint} is ready`,
      );
      this.#reportEvidence(error);
      return Promise.reject(error);
    }
    this.#maybeGrowPool(connection);
    const { clock, timers } = this.#options;
    return new Promise<T>((resolve, reject) => {
      const started = clock.now();
      let settled = false;
      connection.inFlight += 1;
      const timer = timers.setTimeout(() => {
        if (settled) return;
        settled = true;
        const error = new RedisTimeoutError(timeoutMs);
        this.#reportEvidence(error);
        reject(error);
      }, timeoutMs);
      let pending: Promise<T>;
      try {
        pending = Promise.resolve(operation(connection.client));
      } catch (error) {
        pending = Promise.reject(error);
      }
      pending.then(
        (value) => {
          connection.inFlight -= 1;
          if (settled) return;
          settled = true;
          timers.clearTimeout(timer);
          this.#latency.record(clock.now() - started);
          this.#recordSuccess();
          resolve(value);
        },
        (error: unknown) => {
          connection.inFlight -= 1;
          if (settled) return;
          settled = true;
          timers.clearTimeout(timer);
          const classified = classifyError(error, { endpoint: this.#endpoint, secrets: this.#secrets });
          if (classified.kind === 'connection') this.#reportEvidence(classified.error as RedisManagerError);
          reject(classified.error);
        },
      );
    });
  }

  /**
   * Listens to a Pub/Sub channel on the dedicated subscriber connection (opened on first use). The
   * subscription survives reconnects: every channel is subscribed again and {@link onReconnected}
   * fires. Messages published while the subscriber is away are lost.
   * @returns a disposable that removes the listener (and unsubscribes when it was the channel's last).
   */
  subscribe(channel: string, listener: (message: string) => void): Disposable {
    if (typeof channel !== 'string' || channel.length === 0) {
      throw new TypeError(`channel must be a non-empty string, got ${JSON.stringify(channel)}`);
    }
    if (typeof listener !== 'function') {
      throw new TypeError(`listener must be a function, got ${listener === null ? 'null' : typeof listener}`);
    }
    if (this.#isClosed()) throw new RedisUnavailableError('closed', 'the connection manager is closed');
    const entry = (message: string) => listener(message);
    let listeners = this.#channels.get(channel);
    if (listeners === undefined) {
      listeners = new Set();
      this.#channels.set(channel, listeners);
      const subscriber = this.#subscriber;
      if (subscriber?.ready) {
        this.#withTimeout(subscriber.client.subscribe(channel), this.#options.operationTimeoutMs).catch(
          (error) => this.#emitError(error),
        );
      }
    }
    listeners.add(entry);
    if (this.#mode !== 'idle') this.#ensureSubscriber();
    return {
      [Symbol.dispose]: () => {
        const current = this.#channels.get(channel);
        if (current === undefined || !current.delete(entry) || current.size > 0) return;
        this.#channels.delete(channel);
        const subscriber = this.#subscriber;
        if (subscriber?.ready) subscriber.client.unsubscribe(channel).catch(noop);
      },
    };
  }

  /** Fires when fallback mode is entered. */
  onFallbackEntered(listener: (event: FallbackEnteredEvent) => void): Disposable {
    return this.#fallbackListeners.add(listener);
  }

  /** Fires when fallback mode is left after `recoveryThreshold` consecutive healthy probes. */
  onRecovered(listener: (event: RecoveredEvent) => void): Disposable {
    return this.#recoveredListeners.add(listener);
  }

  /** Fires on connection-level errors (repeats of the same message in a row are not repeated). */
  onError(listener: (event: ConnectionErrorEvent) => void): Disposable {
    return this.#errorListeners.add(listener);
  }

  /** Fires when the subscriber connection is back after a loss and has resubscribed; refresh views then. */
  onReconnected(listener: (event: SubscriberReconnectedEvent) => void): Disposable {
    return this.#reconnectedListeners.add(listener);
  }

  /** The seed's health fields plus latency, timeouts, failure count and time in mode. Never touches the network. */
  async getHealthStatus(): Promise<RedisHealthStatus> {
    const now = this.#options.clock.now();
    return {
      connected: this.#mode === 'connected',
      fallbackMode: this.#mode === 'fallback',
      mode: this.#mode,
      host: this.#options.host,
      port: this.#options.port,
      db: this.#options.db,
      maxConnections: this.#options.maxConnections,
      poolSize: this.#pool.length,
      latencyP50Ms: this.#latency.percentile(50),
      latencyP99Ms: this.#latency.percentile(99),
      latencySamples: this.#latency.count,
      connectionTimeoutMs: this.#adaptive.currentMs,
      socketTimeoutMs: this.#options.socketTimeoutMs,
      operationTimeoutMs: this.#options.operationTimeoutMs,
      consecutiveFailures: this.#consecutiveFailures,
      timeInModeMs: Math.max(0, now - this.#modeSince),
      fallbackEntries: this.#fallbackEntries,
      lastError: this.#lastError === null ? null : { ...this.#lastError },
      subscriber: { connected: this.#subscriber?.ready ?? false, channels: this.#channels.size },
    };
  }

  // ------------------------------------------------------------------------------------------
  // connections

  #clientOptions(role: PooledConnection['role'], connection: () => PooledConnection): LegacyRedisOptions {
    const options = this.#options;
    const common: LegacyRedisOptions = {
      // RESP2-shaped replies on both protocols, so results look the same on ioredis 5 and 6.
      replyMapping: 'legacy',
      username: options.username,
      password: options.password,
      db: options.db,
      tls: options.tls,
      connectionName: role === 'subscriber' ? `${options.connectionName}:subscriber` : options.connectionName,
      lazyConnect: true,
      // Fail instead of wait: nothing is queued while disconnected, nothing is retried after a loss.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // The manager resubscribes itself so that it can tell stores when it did.
      autoResubscribe: false,
      commandTimeout: options.socketTimeoutMs,
      socketTimeout: options.socketTimeoutMs,
      connectTimeout: this.#adaptive.currentMs,
      // A FIN a frozen server never answers must not keep the socket (and the process) alive.
      disconnectTimeout: Math.min(options.operationTimeoutMs, 1_000),
      retryStrategy: (attempt: number) => {
        if (this.#isClosed() || !connection().autoReconnect) return null;
        const delay = Math.min(
          RECONNECT_BASE_DELAY_MS * 2 ** Math.min(attempt - 1, 20),
          options.reconnectMaxDelayMs,
        );
        // Jitter keeps a fleet from reconnecting in lockstep.
        return Math.round(delay * (1 + Math.random() * 0.1));
      },
    };
    if (options.sentinels !== undefined) {
      return {
        ...common,
        sentinels: options.sentinels.map((sentinel) => ({ ...sentinel })),
        name: options.sentinelName,
        sentinelPassword: options.sentinelPassword,
        sentinelCommandTimeout: options.operationTimeoutMs,
        // Learn about a failover from the Sentinels at once instead of after the next error.
        failoverDetector: true,
        sentinelRetryStrategy: (attempt: number) =>
          this.#isClosed()
            ? null
            : Math.min(RECONNECT_BASE_DELAY_MS * 2 ** attempt, options.reconnectMaxDelayMs),
      };
    }
    return { ...common, host: options.host, port: options.port };
  }

  #createConnection(role: PooledConnection['role'], autoReconnect: boolean): PooledConnection {
    let connection: PooledConnection | undefined;
    const client = new Redis(this.#clientOptions(role, () => connection as PooledConnection));
    connection = {
      client,
      role,
      inFlight: 0,
      ready: false,
      wasReady: false,
      autoReconnect,
      lastRawError: undefined,
    };
    const self = connection;
    client.on('ready', () => {
      self.ready = true;
      self.wasReady = true;
      this.#onConnectionReady(self);
    });
    client.on('close', () => {
      const wasReady = self.ready;
      self.ready = false;
      if (wasReady) this.#onConnectionLost(self);
    });
    client.on('error', (error: unknown) => {
      self.lastRawError = error;
      this.#onConnectionError(error);
    });
    client.on('reconnecting', () => {
      client.options.connectTimeout = this.#adaptive.currentMs;
    });
    if (role === 'subscriber') {
      client.on('message', (channel: string, message: string) => {
        const listeners = this.#channels.get(channel);
        if (listeners === undefined) return;
        for (const listener of [...listeners]) {
          try {
            listener(message);
          } catch (error) {
            this.#emitError(error);
          }
        }
      });
    }
    return connection;
  }

  #addConnection(autoReconnect: boolean): PooledConnection {
    const connection = this.#createConnection('command', autoReconnect);
    this.#pool.push(connection);
    return connection;
  }

  #pickReady(): PooledConnection | undefined {
    let best: PooledConnection | undefined;
    for (const connection of this.#pool) {
      if (connection.ready && (best === undefined || connection.inFlight < best.inFlight)) best = connection;
    }
    return best;
  }

  /** Opens one more connection when even the least busy one has a command in flight. */
  #maybeGrowPool(leastBusy: PooledConnection): void {
    if (this.#growing || leastBusy.inFlight === 0 || this.#pool.length >= this.#options.maxConnections)
      return;
    this.#growing = true;
    const connection = this.#addConnection(true);
    const settle = () => {
      this.#growing = false;
      connection.client.off('ready', settle);
      connection.client.off('end', settle);
    };
    connection.client.once('ready', settle);
    connection.client.once('end', settle);
    connection.client.connect().catch(noop);
  }

  #ensureSubscriber(): void {
    if (this.#subscriber !== undefined || this.#isClosed() || this.#mode === 'idle') return;
    this.#subscriber = this.#createConnection('subscriber', true);
    this.#subscriber.client.connect().catch(noop);
  }

  #onConnectionReady(connection: PooledConnection): void {
    this.#recordSuccess();
    if (connection.role === 'subscriber') {
      this.#resubscribe(connection);
      return;
    }
    // Evidence of recovery: probe now instead of waiting for the next tick.
    if (this.#mode === 'fallback') this.#scheduleHealthCheck(0);
  }

  #resubscribe(connection: PooledConnection): void {
    const channels = [...this.#channels.keys()];
    this.#subscriberReadyCount += 1;
    const isReconnect = this.#subscriberReadyCount > 1;
    const done = () => {
      if (isReconnect && !this.#isClosed()) {
        this.#reconnectedListeners.emit({ channels, at: this.#options.clock.now() });
      }
    };
    if (channels.length === 0) {
      done();
      return;
    }
    this.#withTimeout(connection.client.subscribe(...channels), this.#options.operationTimeoutMs).then(
      done,
      (error) => {
        this.#emitError(error);
        // Subscriptions are all or nothing: reconnect and try again rather than run half subscribed.
        if (!this.#isClosed()) connection.client.disconnect(true);
      },
    );
  }

  #onConnectionLost(connection: PooledConnection): void {
    if (connection.role === 'subscriber' || this.#mode !== 'connected') return;
    const raw = connection.lastRawError;
    const error =
      raw === undefined
        ? new RedisUnavailableError('connection-lost', `connection to Redis at ${this.#endpoint} closed`)
        : this.#toManagerError(raw);
    this.#reportEvidence(error);
  }

  #onConnectionError(raw: unknown): void {
    if (this.#isClosed()) return;
    const error = this.#toManagerError(raw);
    this.#recordFailure(error);
    this.#emitError(error);
  }

  // ------------------------------------------------------------------------------------------
  // health

  #scheduleHealthCheck(delayMs: number): void {
    if (this.#isClosed()) return;
    const { timers } = this.#options;
    if (this.#healthTimer !== undefined) timers.clearTimeout(this.#healthTimer);
    this.#healthTimer = timers.setTimeout(() => {
      this.#healthTimer = undefined;
      void this.#runHealthCheck();
    }, delayMs);
  }

  async #runHealthCheck(): Promise<void> {
    if (this.#probing || this.#isClosed()) return;
    this.#probing = true;
    try {
      const connection = this.#pickReady();
      if (connection === undefined) {
        // Nothing to probe: reconnect errors are counted where they happen.
        this.#healthyProbes = 0;
        if (this.#mode === 'connected') {
          this.#reportEvidence(
            new RedisUnavailableError(
              'connection-lost',
              `no connection to Redis at ${this.#endpoint} is ready`,
            ),
            'health-check',
          );
        }
        return;
      }
      const { clock } = this.#options;
      const started = clock.now();
      try {
        await this.#withTimeout(connection.client.ping(), this.#options.operationTimeoutMs);
      } catch (error) {
        if (this.#isClosed()) return;
        this.#healthyProbes = 0;
        this.#reportEvidence(this.#toManagerError(error), 'health-check');
        return;
      }
      if (this.#isClosed()) return;
      this.#latency.record(clock.now() - started);
      this.#recordSuccess();
      if (this.#mode === 'fallback') {
        this.#healthyProbes += 1;
        if (this.#healthyProbes >= this.#options.recoveryThreshold) this.#recover();
      }
    } finally {
      this.#probing = false;
      if (this.#mode === 'connected') this.#scheduleHealthCheck(this.#options.healthCheckIntervalMs);
      else if (this.#mode === 'fallback') this.#scheduleHealthCheck(this.#options.fallbackProbeIntervalMs);
    }
  }

  #recover(): void {
    const now = this.#options.clock.now();
    const fallbackDurationMs = Math.max(0, now - this.#modeSince);
    this.#setMode('connected');
    this.#healthyProbes = 0;
    this.#lastEmittedError = undefined;
    this.#recoveredListeners.emit({ fallbackDurationMs, at: now });
    this.#checkSubscriber();
  }

  /** The idle subscriber cannot notice a silent partition itself; after an outage, make sure it is alive. */
  #checkSubscriber(): void {
    const subscriber = this.#subscriber;
    if (subscriber === undefined || !subscriber.ready) return;
    this.#withTimeout(subscriber.client.ping(), this.#options.operationTimeoutMs).catch(() => {
      if (!this.#isClosed()) subscriber.client.disconnect(true);
    });
  }

  // ------------------------------------------------------------------------------------------
  // bookkeeping

  // A method, not an inline comparison: TypeScript would keep a narrowing of #mode across awaits.
  #isClosed(): boolean {
    return this.#mode === 'closed';
  }

  #setMode(mode: ConnectionMode): void {
    if (this.#mode === mode) return;
    this.#mode = mode;
    this.#modeSince = this.#options.clock.now();
  }

  #enterFallback(reason: FallbackReason, error: RedisManagerError): void {
    if (this.#mode !== 'connected' && this.#mode !== 'connecting') return;
    this.#setMode('fallback');
    this.#healthyProbes = 0;
    this.#fallbackEntries += 1;
    this.#fallbackListeners.emit({ reason, error, at: this.#options.clock.now() });
    this.#scheduleHealthCheck(this.#options.fallbackProbeIntervalMs);
  }

  #reportEvidence(error: RedisManagerError, reason?: FallbackReason): void {
    this.#recordFailure(error);
    if (this.#mode !== 'connected') return;
    this.#enterFallback(reason ?? this.#reasonOf(error), error);
  }

  #reasonOf(error: RedisManagerError): FallbackReason {
    if (RedisTimeoutError.isInstance(error)) return 'timeout';
    if (RedisAuthenticationError.isInstance(error)) return 'authentication-failed';
    if (RedisUnavailableError.isInstance(error) && error.reason === 'server-unusable')
      return 'server-unusable';
    return 'connection-lost';
  }

  #recordFailure(error: RedisManagerError): void {
    this.#consecutiveFailures += 1;
    this.#adaptive.recordFailure();
    this.#recordLastError(error);
  }

  #recordLastError(error: RedisManagerError): void {
    this.#lastError = { code: error.code, message: error.message, at: this.#options.clock.now() };
  }

  #recordSuccess(): void {
    this.#consecutiveFailures = 0;
    this.#adaptive.recordSuccess();
  }

  #emitError(raw: unknown): void {
    if (this.#isClosed()) return;
    const error = this.#toManagerError(raw);
    const key = `${error.code}:${error.message}`;
    if (key === this.#lastEmittedError) return;
    this.#lastEmittedError = key;
    this.#errorListeners.emit({ error, at: this.#options.clock.now() });
  }

  #toManagerError(raw: unknown): RedisManagerError {
    const classified = classifyError(raw, { endpoint: this.#endpoint, secrets: this.#secrets });
    if (classified.kind !== 'foreign') return classified.error as RedisManagerError;
    return new RedisUnavailableError('connection-lost', `Redis at ${this.#endpoint} failed`, {
      cause: sanitizeCause(raw, this.#secrets),
    });
  }

  #withTimeout<T>(promise: Promise<T>, timeoutMs: number, makeError?: () => RedisManagerError): Promise<T> {
    const { timers } = this.#options;
    return new Promise<T>((resolve, reject) => {
      const timer = timers.setTimeout(
        () => reject(makeError?.() ?? new RedisTimeoutError(timeoutMs)),
        timeoutMs,
      );
      promise.then(
        (value) => {
          timers.clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          timers.clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  #sleep(delayMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const { timers } = this.#options;
      const timer = timers.setTimeout(finish, delayMs);
      const cancel = () => {
        timers.clearTimeout(timer);
        finish();
      };
      this.#cancelSleep = cancel;
      const self = this;
      function finish() {
        if (self.#cancelSleep === cancel) self.#cancelSleep = undefined;
        resolve();
      }
    });
  }
}

import { cancellableSleep, type Disposable, monotonicNow, type TimerHandle, type Timing } from '@xnai/kit';
import type { Redis } from 'ioredis';
import { AdaptiveTimeout } from './adaptive-timeout.js';
import { reconnectDelayMs } from './backoff.js';
import { classifyError, isConfigurationFailure, sanitizeCause } from './classify-error.js';
import { type CommandHost, runCommand } from './commands.js';
import { ConfigurationFailure } from './configuration-failure.js';
import { runConnectAttempts } from './connect-attempts.js';
import { Connection, type ConnectionEvents } from './connection.js';
import { RedisAuthenticationError } from './errors/redis-authentication-error.js';
import type { RedisManagerError } from './errors/redis-manager-error.js';
import { RedisTimeoutError } from './errors/redis-timeout-error.js';
import { RedisTlsError } from './errors/redis-tls-error.js';
import { RedisUnavailableError } from './errors/redis-unavailable-error.js';
import type {
  AuthenticationFailedEvent,
  ConnectionErrorEvent,
  FallbackEnteredEvent,
  FallbackReason,
  RecoveredEvent,
  SubscriberReconnectedEvent,
} from './events.js';
import { HealthMonitor, type ProbeOutcome } from './health-monitor.js';
import { healthProbeKey, healthProbeTtlMs, runProbe, writeProbe } from './health-probe.js';
import type { ConnectionMode, LastErrorInfo, RedisHealthStatus } from './health-status.js';
import { LatencyWindow } from './latency-window.js';
import { ManagerEvents } from './manager-events.js';
import { type RedisConnectionOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { ConnectionPool } from './pool.js';
import { PubSub } from './pub-sub.js';

/** Options of one {@link RedisConnectionManager.execute} call. */
export interface ExecuteOptions {
  /** Overrides `operationTimeoutMs` for this call. @default the manager's `operationTimeoutMs` */
  timeoutMs?: number;
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
 * It composes one module per concern: `Connection` (socket), `runCommand` (commands and their
 * stall-aware timeouts), `ConnectionPool` (grow and shrink), `PubSub` (subscriber connection) and
 * `HealthMonitor` (probe loop and hysteresis); this class owns the mode and the events.
 *
 * @example
 * await using redis = new RedisConnectionManager({ url: 'redis://localhost:6379' });
 * if (await redis.connect()) {
 *   await redis.execute((client) => client.set('key', 'value'));
 * }
 */
export class RedisConnectionManager implements AsyncDisposable {
  readonly #options: ResolvedOptions;
  readonly #timing: Timing;
  readonly #adaptive: AdaptiveTimeout;
  readonly #latency = new LatencyWindow();
  readonly #secrets: readonly (string | undefined)[];
  readonly #endpoint: string;
  readonly #events: ConnectionEvents;
  readonly #commands: CommandHost;
  readonly #pool: ConnectionPool;
  readonly #pubSub: PubSub;
  readonly #health: HealthMonitor;
  readonly #probe: (client: Redis) => Promise<unknown>;
  /** A wrong password or failed TLS handshake in force: `connect()` rejects with it. */
  readonly #configurationFailure: ConfigurationFailure;

  #mode: ConnectionMode = 'idle';
  /** When the mode last changed, on the clock's duration scale (`monotonicNow`). */
  #modeSince: number;
  /** An attempt of the current `connect()` failed: callers are on their fallback already. */
  #attemptFailed = false;
  #connecting: Promise<boolean> | undefined;
  #closing: Promise<void> | undefined;
  #cancelSleep: (() => void) | undefined;
  #retryTimer: TimerHandle | undefined;
  #consecutiveFailures = 0;
  #fallbackEntries = 0;
  #lastError: LastErrorInfo | null = null;
  readonly #listeners: ManagerEvents;

  /**
   * Validates every option; connects nothing until {@link connect}.
   * @throws TypeError for an unknown option or a wrong type, RangeError for a value out of range;
   * the message names the option and the value, e.g. `maxConnections must be a positive integer, got 0`.
   */
  constructor(options?: RedisConnectionOptions) {
    this.#options = resolveOptions(options);
    const resolved = this.#options;
    const { host, port, db, password, username, sentinelPassword, sentinels, sentinelName } = resolved;
    this.#timing = { clock: resolved.clock };
    this.#secrets = [password, sentinelPassword, username];
    this.#endpoint =
      sentinels === undefined ? `${host}:${port}/${db}` : `sentinel master "${sentinelName}"/${db}`;
    this.#adaptive = new AdaptiveTimeout(
      resolved.connectionTimeoutMs,
      resolved.maxConnectionTimeoutMs,
      resolved.adaptiveTimeout,
    );
    this.#modeSince = monotonicNow(resolved.clock);
    this.#probe = writeProbe(
      healthProbeKey(resolved.connectionName),
      healthProbeTtlMs(resolved.operationTimeoutMs),
    );
    this.#listeners = new ManagerEvents();
    this.#configurationFailure = new ConfigurationFailure((error) =>
      this.#listeners.authenticationFailed.emit({ error, at: resolved.clock.now() }),
    );

    this.#events = {
      onReady: (connection) => this.#onConnectionReady(connection),
      onLost: (connection) => this.#onConnectionLost(connection),
      onError: (_connection, error) => this.#onConnectionError(error),
      onMessage: (channel, message) => this.#pubSub.deliver(channel, message),
      reconnectDelay: (connection, attempt) => this.#reconnectDelay(connection, attempt),
      connectionTimeoutMs: () => this.#adaptive.currentMs,
    };
    this.#pool = new ConnectionPool({
      ...this.#timing,
      maxConnections: resolved.maxConnections,
      idleConnectionTimeoutMs: resolved.idleConnectionTimeoutMs,
      create: (autoReconnect) => new Connection('command', autoReconnect, resolved, this.#events),
      connectionTimeoutMs: () => this.#adaptive.currentMs,
      canGrow: () => this.#mode === 'connected',
    });
    this.#commands = { ...this.#timing, noteUsed: (connection) => this.#pool.noteUsed(connection) };
    this.#pubSub = new PubSub({
      ...this.#timing,
      operationTimeoutMs: resolved.operationTimeoutMs,
      create: () => new Connection('subscriber', true, resolved, this.#events),
      connectionTimeoutMs: () => this.#adaptive.currentMs,
      mayConnect: () => this.#mode !== 'idle' && !this.#isClosed(),
      emitReconnected: (event) => this.#listeners.reconnected.emit(event),
      emitError: (error) => this.#emitError(error),
    });
    this.#health = new HealthMonitor({
      ...this.#timing,
      healthCheckIntervalMs: resolved.healthCheckIntervalMs,
      fallbackProbeIntervalMs: resolved.fallbackProbeIntervalMs,
      recoveryThreshold: resolved.recoveryThreshold,
      mode: () => this.#mode,
      probe: () =>
        runProbe(this.#pool.pick(), this.#probe, resolved.operationTimeoutMs, this.#commands, (raw) =>
          this.#toManagerError(raw),
        ),
      onHealthy: (latencyMs) => {
        this.#latency.record(latencyMs);
        this.#recordSuccess();
      },
      onUnhealthy: (outcome) => this.#onProbeFailed(outcome),
      recover: () => this.#recover(),
    });
  }

  /** True while Redis is usable (seed: `is_connected`). */
  get isConnected(): boolean {
    return this.#mode === 'connected';
  }

  /**
   * True whenever callers should use their fallback because Redis failed or the manager is closed
   * (seed: `fallback_mode`): in mode `fallback`, in mode `connecting` once an attempt has failed, and
   * after {@link disconnect}. Use it (or `isConnected`) for readiness; `mode` alone does not say
   * whether a `connecting` manager has seen Redis fail yet.
   */
  get fallbackMode(): boolean {
    switch (this.#mode) {
      case 'fallback':
      case 'closed':
        return true;
      case 'connecting':
        return this.#attemptFailed;
      case 'idle':
      case 'connected':
        return false;
      default:
        return assertNever(this.#mode);
    }
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
   * @throws RedisAuthenticationError when Redis rejects the credentials, and RedisTlsError when the
   * TLS handshake fails (untrusted certificate, no TLS on that port). The manager is then in fallback
   * mode and keeps retrying in the background (1 s doubling up to 30 s) until it connects or
   * {@link disconnect} is called; later calls reject the same way while the failure lasts.
   * @throws RedisUnavailableError (reason `closed`) after {@link disconnect}.
   */
  connect(): Promise<boolean> {
    switch (this.#mode) {
      case 'closed':
        return Promise.reject(new RedisUnavailableError('closed', 'connect() called after disconnect()'));
      case 'connected':
        return Promise.resolve(true);
      case 'fallback': {
        const failure = this.#configurationFailure.error;
        return failure === undefined ? Promise.resolve(false) : Promise.reject(failure);
      }
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
    this.#attemptFailed = false;
    const primary = this.#pool.primaryOrCreate(false);
    primary.autoReconnect = false;
    let failuresBefore = 0;
    const result = await runConnectAttempts(primary, {
      ...this.#timing,
      endpoint: this.#endpoint,
      connectionTimeoutMs: () => this.#adaptive.currentMs,
      isClosed: () => this.#isClosed(),
      sleep: (delayMs) => this.#sleep(delayMs),
      toManagerError: (raw) => this.#toManagerError(raw),
      onAttemptStarted: () => {
        failuresBefore = this.#consecutiveFailures;
      },
      onAttemptFailed: (error) => {
        this.#attemptFailed = true;
        // Counted already when the connection reported an error; count an attempt that timed out silently.
        if (this.#consecutiveFailures === failuresBefore) this.#recordFailure(error);
        // Retrying in a second will not fix a wrong password; retrying in the background with backoff may.
        return isConfigurationFailure(error) ? 'stop' : 'retry';
      },
    });
    switch (result.kind) {
      case 'closed':
        return false;
      case 'connected':
        primary.autoReconnect = true;
        this.#recordSuccess();
        this.#setMode('connected');
        this.#health.scheduleForMode();
        this.#pubSub.ensure();
        return true;
      case 'failed':
        if (result.stopped) {
          this.#configurationFailure.note(result.error);
          this.#enterFallback(this.#reasonOf(result.error), result.error);
          this.#retryInBackground(primary, this.#configurationFailure.nextDelayMs());
          throw result.error;
        }
        this.#enterFallback('connect_failed', result.error);
        this.#retryInBackground(primary, 0);
        return false;
      default:
        return assertNever(result);
    }
  }

  /** Hands the primary connection to ioredis's reconnect loop (our `retryStrategy`), after `delayMs`. */
  #retryInBackground(primary: Connection, delayMs: number): void {
    primary.autoReconnect = true;
    const start = () => {
      this.#retryTimer = undefined;
      if (!this.#isClosed()) primary.connect(this.#adaptive.currentMs).catch(noop);
    };
    if (delayMs === 0) start();
    else this.#retryTimer = this.#options.clock.setTimeout(start, delayMs);
    this.#pubSub.ensure();
  }

  /**
   * Closes every connection and cancels the health loop. Idempotent; once it resolves no timer,
   * socket or listener of this manager keeps the process alive. Sockets are destroyed at once,
   * without waiting for a server that may not answer, so this takes a tick even during an outage.
   * Commands still in flight reject with {@link RedisUnavailableError}; later calls of {@link execute}
   * reject with reason `closed`, and {@link fallbackMode} is true (as in the seed).
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
    if (this.#retryTimer !== undefined) this.#options.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#health.stop();
    await Promise.all([this.#pool.close(), this.#pubSub.close()]);
    this.#listeners.clear();
  }

  /**
   * Runs `operation` on a pooled connection under the operation timeout and records its latency.
   *
   * - Connection errors and timeouts switch to fallback mode at once and reject with
   *   {@link RedisUnavailableError} or {@link RedisTimeoutError}.
   * - A {@link RedisTimeoutError} means the outcome is unknown: the command may still run later.
   * - A timer that a blocked event loop delayed is not taken for a slow Redis: the reply is looked
   *   for once more after the loop has read the sockets, and a timer that fired late by more than
   *   10 % of the timeout (at least 10 ms) waits once more for that lateness (at most the timeout).
   * - Redis error replies reject with {@link RedisCommandError} (`replyCode` is the reply's prefix)
   *   and are not evidence against Redis, except READONLY, LOADING and MASTERDOWN, which reject with
   *   {@link RedisUnavailableError} (reason `server_unusable`) and switch to fallback mode.
   * - In fallback mode (or before `connect()` succeeded, or after `disconnect()`) it rejects at once
   *   with {@link RedisUnavailableError} without touching the network.
   * - Errors thrown by `operation`'s own code (not by Redis) come out unchanged.
   *
   * Keep `operation` to Redis I/O: its whole duration counts against the timeout.
   * @throws TypeError when `operation` is not a function; RangeError for a bad `timeoutMs`.
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
          new RedisUnavailableError('not_connected', `Redis at ${this.#endpoint} is not connected yet`),
        );
      case 'closed':
        return Promise.reject(new RedisUnavailableError('closed', 'the connection manager is closed'));
      default:
        assertNever(this.#mode);
    }
    const connection = this.#pool.pick();
    if (connection === undefined) {
      const error = new RedisUnavailableError(
        'connection_lost',
        `no connection to Redis at ${this.#endpoint} is ready`,
      );
      this.#reportEvidence(error);
      return Promise.reject(error);
    }
    this.#pool.maybeGrow(connection);
    return runCommand(connection, operation, timeoutMs, this.#commands).then((result) => {
      switch (result.kind) {
        case 'value':
          this.#latency.record(result.latencyMs);
          this.#recordSuccess();
          return result.value;
        case 'timeout':
          this.#reportEvidence(result.error);
          throw result.error;
        case 'error': {
          const classified = classifyError(result.error, {
            endpoint: this.#endpoint,
            secrets: this.#secrets,
          });
          if (classified.kind === 'connection') this.#reportEvidence(classified.error as RedisManagerError);
          throw classified.error;
        }
        default:
          return assertNever(result);
      }
    });
  }

  /**
   * Checks the subscriber connection end to end: a PING on it, answered after every message published
   * before it. When it fails or times out (a silent partition of the subscriber alone), the subscriber
   * is reconnected, every channel subscribed again and {@link onReconnected} fired, so that listeners
   * re-read what they may have missed. One command; stores call it on an interval instead of
   * re-reading every circuit.
   * @returns `true` when the subscriber answered, `false` when it is not connected or did not answer.
   */
  checkSubscriber(): Promise<boolean> {
    if (this.#isClosed()) return Promise.resolve(false);
    return this.#pubSub.check();
  }

  /**
   * Listens to a Pub/Sub channel on the dedicated subscriber connection (opened on first use). The
   * subscription survives reconnects: every channel is subscribed again and {@link onReconnected}
   * fires. Messages published while the subscriber is away are lost.
   * @returns a disposable that removes the listener (and unsubscribes when it was the channel's last).
   * @throws TypeError for an empty channel or a listener that is not a function;
   * RedisUnavailableError (reason `closed`) after {@link disconnect}.
   */
  subscribe(channel: string, listener: (message: string) => void): Disposable {
    if (typeof channel !== 'string' || channel.length === 0) {
      throw new TypeError(`channel must be a non-empty string, got ${JSON.stringify(channel)}`);
    }
    if (typeof listener !== 'function') {
      throw new TypeError(`listener must be a function, got ${listener === null ? 'null' : typeof listener}`);
    }
    if (this.#isClosed()) throw new RedisUnavailableError('closed', 'the connection manager is closed');
    return this.#pubSub.subscribe(channel, listener);
  }

  /**
   * Fires when fallback mode is entered.
   * @throws TypeError when `listener` is not a function.
   */
  onFallbackEntered(listener: (event: FallbackEnteredEvent) => void): Disposable {
    return this.#listeners.fallbackEntered.add(listener);
  }

  /**
   * Fires when fallback mode is left after `recoveryThreshold` consecutive healthy probes.
   * @throws TypeError when `listener` is not a function.
   */
  onRecovered(listener: (event: RecoveredEvent) => void): Disposable {
    return this.#listeners.recovered.add(listener);
  }

  /**
   * Fires on connection-level errors (repeats of the same message in a row are not repeated).
   * @throws TypeError when `listener` is not a function.
   */
  onError(listener: (event: ConnectionErrorEvent) => void): Disposable {
    return this.#listeners.error.add(listener);
  }

  /**
   * Fires when the subscriber connection is back after a loss and has resubscribed; refresh views then.
   * @throws TypeError when `listener` is not a function.
   */
  onReconnected(listener: (event: SubscriberReconnectedEvent) => void): Disposable {
    return this.#listeners.reconnected.add(listener);
  }

  /**
   * Fires when Redis starts refusing the credentials (once per episode: again only after a
   * connection has authenticated since). The manager retries by itself, 1 s doubling up to 30 s.
   * @throws TypeError when `listener` is not a function.
   */
  onAuthenticationFailed(listener: (event: AuthenticationFailedEvent) => void): Disposable {
    return this.#listeners.authenticationFailed.add(listener);
  }

  /** The seed's health fields plus latency, timeouts, failure count and time in mode. Never touches the network. */
  async getHealthStatus(): Promise<RedisHealthStatus> {
    const now = monotonicNow(this.#options.clock);
    return {
      connected: this.#mode === 'connected',
      fallbackMode: this.fallbackMode,
      mode: this.#mode,
      host: this.#options.host,
      port: this.#options.port,
      db: this.#options.db,
      maxConnections: this.#options.maxConnections,
      poolSize: this.#pool.size,
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
      authenticationFailed: this.#configurationFailure.authenticationFailed,
      idleConnectionTimeoutMs: this.#options.idleConnectionTimeoutMs,
      subscriber: { connected: this.#pubSub.connected, channels: this.#pubSub.channelCount },
    };
  }

  // ------------------------------------------------------------------------------------------
  // connection events

  #onConnectionReady(connection: Connection): void {
    this.#recordSuccess();
    this.#configurationFailure.clear();
    if (connection.role === 'subscriber') {
      this.#pubSub.onReady(connection);
      return;
    }
    // Evidence of recovery: probe now instead of waiting for the next tick.
    if (this.#mode === 'fallback') this.#health.schedule(0);
  }

  #onConnectionLost(connection: Connection): void {
    if (connection.role === 'subscriber' || this.#mode !== 'connected') return;
    const raw = connection.lastRawError;
    const error =
      raw === undefined
        ? new RedisUnavailableError('connection_lost', `connection to Redis at ${this.#endpoint} closed`)
        : this.#toManagerError(raw);
    this.#reportEvidence(error);
  }

  #onConnectionError(raw: unknown): void {
    if (this.#isClosed()) return;
    const error = this.#toManagerError(raw);
    if (isConfigurationFailure(error)) this.#configurationFailure.note(error);
    this.#recordFailure(error);
    this.#emitError(error);
  }

  #reconnectDelay(connection: Connection, attempt: number): number | null {
    if (this.#isClosed()) return null;
    // A wrong password or an untrusted certificate does not heal in milliseconds: back off.
    if (isConfigurationFailure(connection.lastRawError)) return this.#configurationFailure.nextDelayMs();
    return reconnectDelayMs(attempt, this.#options.reconnectMaxDelayMs);
  }

  // ------------------------------------------------------------------------------------------
  // health

  #onProbeFailed(outcome: Exclude<ProbeOutcome, { kind: 'healthy' }>): void {
    if (outcome.kind === 'unhealthy') {
      this.#reportEvidence(outcome.error, 'health_check');
      return;
    }
    // Nothing to probe: reconnect errors are counted where they happen.
    if (this.#mode === 'connected') {
      this.#reportEvidence(
        new RedisUnavailableError('connection_lost', `no connection to Redis at ${this.#endpoint} is ready`),
        'health_check',
      );
    }
  }

  #recover(): void {
    const fallbackDurationMs = Math.max(0, monotonicNow(this.#options.clock) - this.#modeSince);
    this.#setMode('connected');
    this.#listeners.forgetLastError();
    this.#listeners.recovered.emit({ fallbackDurationMs, at: this.#options.clock.now() });
    void this.#pubSub.check();
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
    this.#modeSince = monotonicNow(this.#options.clock);
  }

  #enterFallback(reason: FallbackReason, error: RedisManagerError): void {
    if (this.#mode !== 'connected' && this.#mode !== 'connecting') return;
    this.#setMode('fallback');
    this.#health.resetHysteresis();
    this.#fallbackEntries += 1;
    this.#listeners.fallbackEntered.emit({ reason, error, at: this.#options.clock.now() });
    this.#health.scheduleForMode();
  }

  #reportEvidence(error: RedisManagerError, reason?: FallbackReason): void {
    this.#recordFailure(error);
    if (this.#mode !== 'connected') return;
    this.#enterFallback(reason ?? this.#reasonOf(error), error);
  }

  #reasonOf(error: RedisManagerError): FallbackReason {
    if (RedisTimeoutError.isInstance(error)) return 'timeout';
    if (RedisAuthenticationError.isInstance(error)) return 'authentication_failed';
    if (RedisTlsError.isInstance(error)) return 'tls_failed';
    if (RedisUnavailableError.isInstance(error) && error.reason === 'server_unusable')
      return 'server_unusable';
    return 'connection_lost';
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
    this.#listeners.emitError(this.#toManagerError(raw), this.#options.clock.now());
  }

  #toManagerError(raw: unknown): RedisManagerError {
    const classified = classifyError(raw, { endpoint: this.#endpoint, secrets: this.#secrets });
    if (classified.kind !== 'foreign') return classified.error as RedisManagerError;
    return new RedisUnavailableError('connection_lost', `Redis at ${this.#endpoint} failed`, {
      cause: sanitizeCause(raw, this.#secrets),
    });
  }

  #sleep(delayMs: number): Promise<void> {
    const sleep = cancellableSleep(this.#options.clock, delayMs);
    this.#cancelSleep = sleep.cancel;
    return sleep.done.finally(() => {
      if (this.#cancelSleep === sleep.cancel) this.#cancelSleep = undefined;
    });
  }
}

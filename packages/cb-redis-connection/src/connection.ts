import { monotonicNow } from '@xnai/kit';
import type { Redis } from 'ioredis';
import type { ClientOptions } from './client-factory.js';
import type { ResolvedOptions } from './options.js';
import { guardedConnector, SocketGuard } from './socket-connector.js';

/** What a connection serves. */
export type ConnectionRole = 'command' | 'subscriber';

/** What a connection tells the manager, and asks it. */
export interface ConnectionEvents {
  onReady(connection: Connection): void;
  /** A connection that was ready closed. */
  onLost(connection: Connection): void;
  onError(connection: Connection, error: unknown): void;
  onMessage(channel: string, message: string): void;
  /** Delay before ioredis reconnects `connection` after a close, or null to stop reconnecting. */
  reconnectDelay(connection: Connection, attempt: number): number | null;
  /** The connection timeout to use for the next attempt (adaptive). */
  connectionTimeoutMs(): number;
}

/**
 * One ioredis client and its socket: the manager's unit of connection (socket concern). Counts the
 * commands on it, and closes without waiting on a server that cannot answer.
 */
export class Connection {
  readonly client: Redis;
  readonly role: ConnectionRole;
  /** Commands whose caller is still waiting. */
  pending = 0;
  /** Commands whose caller gave up (timed out) and that have not settled yet. */
  stuck = 0;
  ready = false;
  /** False while `connect()`'s own attempts run, so ioredis does not retry behind the manager's back. */
  autoReconnect: boolean;
  /** The last raw error this connection reported; cleared when it becomes ready. */
  lastRawError: unknown;
  /** When a command last started or settled on it (the injected clock's duration scale, `monotonicNow`). */
  lastUsedAt: number;
  readonly #guard = new SocketGuard();

  constructor(
    role: ConnectionRole,
    autoReconnect: boolean,
    options: ResolvedOptions,
    events: ConnectionEvents,
  ) {
    this.role = role;
    this.autoReconnect = autoReconnect;
    this.lastUsedAt = monotonicNow(options.clock);
    this.client = options.createClient(this.#clientOptions(options, events));
    const client = this.client;
    client.on('ready', () => {
      this.ready = true;
      this.lastRawError = undefined;
      events.onReady(this);
    });
    client.on('close', () => {
      const wasReady = this.ready;
      this.ready = false;
      if (wasReady) events.onLost(this);
    });
    client.on('error', (error: unknown) => {
      this.lastRawError = error;
      events.onError(this, error);
    });
    client.on('reconnecting', () => {
      client.options.connectTimeout = events.connectionTimeoutMs();
    });
    if (role === 'subscriber') {
      client.on('message', (channel: string, message: string) => events.onMessage(channel, message));
    }
  }

  /** True when no command of a caller runs on it, and none that timed out is still pending. */
  get idle(): boolean {
    return this.pending === 0 && this.stuck === 0;
  }

  /** Starts connecting (or reconnecting after an end); rejects like ioredis's `connect()`. */
  connect(connectTimeoutMs: number): Promise<void> {
    this.client.options.connectTimeout = connectTimeoutMs;
    this.lastRawError = undefined;
    return this.client.connect();
  }

  /**
   * Stops reconnecting and destroys the socket at once; resolves when the socket has closed (a
   * tick). Pending commands are rejected by ioredis ("Connection is closed").
   */
  close(): Promise<void> {
    this.ready = false;
    // An ended client needs no disconnect(), and one would leave ioredis's `manuallyClosing` set,
    // which would make the next close of a later connect() skip reconnecting.
    if (this.client.status !== 'end') this.client.disconnect();
    return this.#guard.destroy();
  }

  #clientOptions(options: ResolvedOptions, events: ConnectionEvents): ClientOptions {
    const common: ClientOptions = {
      // RESP2-shaped replies on both protocols, so results look the same on ioredis 5 and 6.
      replyMapping: 'legacy',
      username: options.username,
      password: options.password,
      db: options.db,
      tls: options.tls,
      connectionName:
        this.role === 'subscriber' ? `${options.connectionName}:subscriber` : options.connectionName,
      lazyConnect: true,
      // Fail instead of wait: nothing is queued while disconnected, nothing is retried after a loss.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // The manager resubscribes itself so that it can tell stores when it did.
      autoResubscribe: false,
      commandTimeout: options.socketTimeoutMs,
      socketTimeout: options.socketTimeoutMs,
      connectTimeout: events.connectionTimeoutMs(),
      disconnectTimeout: Math.min(options.operationTimeoutMs, 1_000),
      // Our connector keeps an error listener on every socket and destroys it on disconnect.
      Connector: guardedConnector(this.#guard, options.sentinels !== undefined),
      retryStrategy: (attempt: number) => (this.autoReconnect ? events.reconnectDelay(this, attempt) : null),
    };
    if (options.sentinels === undefined) return { ...common, host: options.host, port: options.port };
    return {
      ...common,
      sentinels: options.sentinels.map((sentinel) => ({ ...sentinel })),
      name: options.sentinelName,
      sentinelPassword: options.sentinelPassword,
      sentinelCommandTimeout: options.operationTimeoutMs,
      // Learn about a failover from the Sentinels at once instead of after the next error.
      failoverDetector: true,
      sentinelRetryStrategy: (attempt: number) => events.reconnectDelay(this, attempt + 1),
    };
  }
}

import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { ClientOptions, CreateClient } from '../client-factory.js';

/** How the fake server behaves right now. */
export type FakeServerState =
  /** Accepts connections and answers. */
  | 'up'
  /** Refuses connections (ECONNREFUSED), as a killed Redis does. */
  | 'down'
  /** Accepts nothing further and answers nothing, as a SIGSTOPped Redis: handshakes and commands hang. */
  | 'frozen';

const WRITE_COMMANDS = new Set(['set', 'incr', 'publish']);

function replyError(message: string): Error {
  return Object.assign(new Error(message), { name: 'ReplyError' });
}

function socketError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:6379`), { code });
}

interface Waiting {
  run(): void;
}

/**
 * A scripted Redis for the unit tests of the manager's rules: no sockets, time from the (fake)
 * global timers. It follows the parts of ioredis's behaviour the manager relies on: `connect()` and
 * its rejection on close, the 'ready' / 'error' / 'close' / 'end' / 'reconnecting' events,
 * `retryStrategy` after a close that was not asked for, `connectTimeout`, `disconnect(reconnect)`,
 * and commands rejected while not ready (no offline queue).
 */
export class FakeRedisServer {
  state: FakeServerState = 'up';
  /** The password the server requires; undefined for none. */
  password: string | undefined;
  /** Writes hang (as under `CLIENT PAUSE WRITE`) while true. */
  writesPaused = false;
  /** Time a reply takes; 0 answers in a microtask. */
  latencyMs = 0;
  /** Every connection attempt (Date.now() when it started). */
  readonly connectAttempts: number[] = [];
  /** Every command, in arrival order. */
  readonly commands: Array<{ at: number; name: string; args: readonly unknown[] }> = [];
  readonly clients: FakeRedisClient[] = [];
  readonly #data = new Map<string, string>();
  readonly #replyErrors = new Map<string, string[]>();
  #waiting: Waiting[] = [];

  /** What the manager's `[CREATE_CLIENT]` option takes. */
  readonly createClient: CreateClient = (options) => {
    const client = new FakeRedisClient(this, options);
    this.clients.push(client);
    return client as unknown as Redis;
  };

  /** Changes the state; work that hung on a frozen server or paused writes goes on when it allows. */
  setState(state: FakeServerState): void {
    this.state = state;
    this.#release();
  }

  pauseWrites(paused: boolean): void {
    this.writesPaused = paused;
    this.#release();
  }

  /** The next `count` commands named `command` get this error reply. */
  replyErrorOnce(command: string, message: string, count = 1): void {
    this.#replyErrors.set(command, [
      ...(this.#replyErrors.get(command) ?? []),
      ...Array(count).fill(message),
    ]);
  }

  /** Drops every open connection, as a kill or a reset does (ECONNRESET, then close). */
  dropConnections(): void {
    for (const client of this.clients) client.drop(socketError('ECONNRESET'));
  }

  /** Clients that are not ended (what CLIENT LIST would show, plus those reconnecting). */
  get openClients(): FakeRedisClient[] {
    return this.clients.filter((client) => client.status === 'ready' || client.status === 'connect');
  }

  /** @internal */
  wait(entry: Waiting): () => void {
    this.#waiting.push(entry);
    return () => {
      this.#waiting = this.#waiting.filter((other) => other !== entry);
    };
  }

  /** @internal */
  takeReplyError(command: string): string | undefined {
    const queue = this.#replyErrors.get(command);
    const message = queue?.shift();
    if (queue?.length === 0) this.#replyErrors.delete(command);
    return message;
  }

  /** @internal */
  apply(name: string, args: readonly unknown[]): unknown {
    const key = String(args[0]);
    switch (name) {
      case 'set':
        this.#data.set(key, String(args[1]));
        return 'OK';
      case 'get':
        return this.#data.get(key) ?? null;
      case 'incr': {
        const next = Number(this.#data.get(key) ?? '0') + 1;
        this.#data.set(key, String(next));
        return next;
      }
      case 'ping':
        return 'PONG';
      case 'publish':
        return 0;
      default:
        return 'OK';
    }
  }

  #release(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const entry of waiting) entry.run();
  }
}

type Status = 'wait' | 'connecting' | 'connect' | 'ready' | 'close' | 'reconnecting' | 'end';

/** One fake client; see {@link FakeRedisServer}. */
export class FakeRedisClient extends EventEmitter {
  status: Status = 'wait';
  /** Connection attempts of this client still to refuse (ECONNREFUSED), whatever the server's state. */
  refuseAttempts = 0;
  /**
   * This connection alone is silently cut (a partition of one socket): its commands get no reply
   * and nothing tells it, until it is disconnected. Its reconnects are not cut.
   */
  silent = false;
  readonly options: ClientOptions;
  readonly #server: FakeRedisServer;
  #manuallyClosing = false;
  #retryAttempts = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #onConnectClosed: ((error: Error) => void) | undefined;
  readonly #pending = new Set<(error: Error) => void>();
  #cancelWait: (() => void) | undefined;

  constructor(server: FakeRedisServer, options: ClientOptions) {
    super();
    this.#server = server;
    this.options = { ...options };
  }

  connect(): Promise<void> {
    if (this.status === 'connecting' || this.status === 'connect' || this.status === 'ready') {
      return Promise.reject(new Error('Redis is already connecting/connected'));
    }
    this.status = 'connecting';
    this.#server.connectAttempts.push(Date.now());
    return new Promise<void>((resolve, reject) => {
      this.#onConnectClosed = reject;
      const timeoutMs = this.options.connectTimeout;
      if (typeof timeoutMs === 'number' && timeoutMs > 0) {
        this.#connectTimer = setTimeout(() => {
          this.#connectTimer = undefined;
          this.drop(socketError('ETIMEDOUT'));
        }, timeoutMs);
      }
      // Asynchronous, as a socket connect is; a microtask, not a timer, so that fake time does not move.
      queueMicrotask(() => this.#handshake(resolve));
    });
  }

  #handshake(resolve: () => void): void {
    if (this.status !== 'connecting') return;
    const server = this.#server;
    if (server.state === 'frozen') {
      this.#cancelWait = server.wait({ run: () => this.#handshake(resolve) });
      return;
    }
    if (server.state === 'down' || this.refuseAttempts > 0) {
      if (server.state !== 'down') this.refuseAttempts -= 1;
      this.drop(socketError('ECONNREFUSED'));
      return;
    }
    if (server.password !== undefined && this.options.password !== server.password) {
      this.drop(replyError('WRONGPASS invalid username-password pair or user is disabled.'));
      return;
    }
    this.#clearConnectTimer();
    this.status = 'ready';
    this.#retryAttempts = 0;
    this.#onConnectClosed = undefined;
    this.emit('ready');
    resolve();
  }

  /** The connection breaks with `error` (then closes; ioredis's retryStrategy decides what next). */
  drop(error: Error): void {
    if (this.status !== 'connecting' && this.status !== 'connect' && this.status !== 'ready') return;
    this.silent = false;
    this.emit('error', error);
    this.#closed();
  }

  disconnect(reconnect = false): void {
    // A reconnect opens a new socket: the cut was this one's.
    this.silent = false;
    if (!reconnect) {
      this.#manuallyClosing = true;
      if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = undefined;
    }
    if (this.status === 'wait') {
      this.#manuallyClosing = false;
      this.status = 'end';
      this.emit('end');
      return;
    }
    if (this.status === 'connecting' || this.status === 'connect' || this.status === 'ready') {
      // The socket closes a moment later, as a destroyed one does.
      queueMicrotask(() => this.#closed());
    }
  }

  #closed(): void {
    if (this.status === 'close' || this.status === 'end' || this.status === 'reconnecting') return;
    this.#clearConnectTimer();
    this.#cancelWait?.();
    this.#cancelWait = undefined;
    const closedError = new Error('Connection is closed.');
    for (const reject of [...this.#pending]) reject(closedError);
    this.#pending.clear();
    const rejectConnect = this.#onConnectClosed;
    this.#onConnectClosed = undefined;
    this.status = 'close';
    const manual = this.#manuallyClosing;
    this.#manuallyClosing = false;
    const delay = manual ? null : this.options.retryStrategy?.(++this.#retryAttempts);
    if (typeof delay === 'number') {
      this.status = 'reconnecting';
      this.#reconnectTimer = setTimeout(() => {
        this.#reconnectTimer = undefined;
        this.connect().catch(noop);
      }, delay);
    } else {
      this.status = 'end';
    }
    this.emit('close');
    if (this.status === 'reconnecting') this.emit('reconnecting', delay);
    else this.emit('end');
    rejectConnect?.(closedError);
  }

  #clearConnectTimer(): void {
    if (this.#connectTimer !== undefined) clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
  }

  #command(name: string, args: readonly unknown[]): Promise<unknown> {
    const server = this.#server;
    server.commands.push({ at: Date.now(), name, args });
    if (this.status !== 'ready') {
      return Promise.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false"));
    }
    return new Promise<unknown>((resolve, reject) => {
      let done = false;
      let cancelWait: (() => void) | undefined;
      const fail = (error: Error) => {
        if (done) return;
        done = true;
        cancelWait?.();
        this.#pending.delete(fail);
        reject(error);
      };
      const answer = () => {
        if (done) return;
        done = true;
        this.#pending.delete(fail);
        const error = server.takeReplyError(name);
        if (error !== undefined) reject(replyError(error));
        else resolve(server.apply(name, args));
      };
      const attempt = () => {
        cancelWait = undefined;
        if (done) return;
        if (this.silent) return;
        if (server.state === 'frozen' || (server.writesPaused && WRITE_COMMANDS.has(name))) {
          cancelWait = server.wait({ run: attempt });
          return;
        }
        if (server.latencyMs > 0) setTimeout(answer, server.latencyMs);
        else queueMicrotask(answer);
      };
      this.#pending.add(fail);
      attempt();
    });
  }

  set(...args: unknown[]): Promise<unknown> {
    return this.#command('set', args);
  }

  get(...args: unknown[]): Promise<unknown> {
    return this.#command('get', args);
  }

  incr(...args: unknown[]): Promise<unknown> {
    return this.#command('incr', args);
  }

  ping(): Promise<unknown> {
    return this.#command('ping', []);
  }

  publish(...args: unknown[]): Promise<unknown> {
    return this.#command('publish', args);
  }

  subscribe(...channels: unknown[]): Promise<unknown> {
    return this.#command('subscribe', channels);
  }

  unsubscribe(...channels: unknown[]): Promise<unknown> {
    return this.#command('unsubscribe', channels);
  }
}

function noop(): void {}

import { type Disposable, StoreUnavailableError, toDisposable } from '@xnai/cb-core';
import type { Cluster, Redis } from 'ioredis';

/** A client the store can send commands to. */
export type RedisClient = Redis | Cluster;

/**
 * What the store needs from a connection manager. `RedisConnectionManager` from
 * `@xnai/cb-redis-connection` has this shape; the store depends on the shape, not the package.
 */
export interface RedisCommandExecutor {
  /** Runs `operation` on a client under a timeout; rejects at once while Redis is unusable. */
  execute<T>(operation: (client: Redis) => Promise<T>, options?: { timeoutMs?: number }): Promise<T>;
  /** Listens to a Pub/Sub channel; the returned disposable stops listening. */
  subscribe(channel: string, listener: (message: string) => void): globalThis.Disposable;
  /** Fired when the subscriber connection came back (messages in between were lost). */
  onReconnected?(listener: () => void): globalThis.Disposable;
  /** Fired when the manager left fallback mode. */
  onRecovered?(listener: () => void): globalThis.Disposable;
  /**
   * Checks the subscriber end to end and reconnects it when it does not answer (which then fires
   * `onReconnected`). Without it, the store cannot verify its pushes and breakers re-read instead.
   */
  checkSubscriber?(): Promise<boolean>;
}

/** How the store talks to Redis, whichever of the two it was given. */
export interface RedisLink {
  run<T>(operation: (client: RedisClient) => Promise<T>): Promise<T>;
  subscribe(channel: string, listener: (message: string) => void): Disposable;
  /** Called when pushed messages may have been missed (reconnect, recovery). */
  onResync(listener: () => void): Disposable;
  /** Whether {@link checkSubscriber} can verify the subscriber. */
  readonly canCheckSubscriber: boolean;
  /**
   * One end-to-end check of the subscriber (a PING on its connection); a subscriber that does not
   * answer is reconnected, and the reconnect fires the `onResync` listeners. Resolves `true` when it
   * answered.
   */
  checkSubscriber(): Promise<boolean>;
  close(): Promise<void>;
}

export function isCommandExecutor(value: unknown): value is RedisCommandExecutor {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RedisCommandExecutor).execute === 'function' &&
    typeof (value as RedisCommandExecutor).subscribe === 'function'
  );
}

export function isRedisClient(value: unknown): value is RedisClient {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Redis).evalsha === 'function' &&
    typeof (value as Redis).duplicate === 'function'
  );
}

/** Wraps anything Redis throws: callers of a store see only `StoreUnavailableError`. */
export function toStoreError(error: unknown, what: string): StoreUnavailableError {
  if (StoreUnavailableError.isInstance(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(`Redis could not ${what}: ${message}`, { cause: error });
}

/** Over a connection manager: it owns timeouts, fallback detection and the subscriber. */
export class ExecutorLink implements RedisLink {
  readonly #executor: RedisCommandExecutor;

  constructor(executor: RedisCommandExecutor) {
    this.#executor = executor;
  }

  run<T>(operation: (client: RedisClient) => Promise<T>): Promise<T> {
    return this.#executor.execute(operation);
  }

  subscribe(channel: string, listener: (message: string) => void): Disposable {
    const subscription = this.#executor.subscribe(channel, listener);
    return toDisposable(() => subscription[Symbol.dispose]());
  }

  get canCheckSubscriber(): boolean {
    return typeof this.#executor.checkSubscriber === 'function';
  }

  checkSubscriber(): Promise<boolean> {
    return this.#executor.checkSubscriber?.() ?? Promise.resolve(false);
  }

  onResync(listener: () => void): Disposable {
    const reconnected = this.#executor.onReconnected?.(listener);
    const recovered = this.#executor.onRecovered?.(listener);
    return toDisposable(() => {
      reconnected?.[Symbol.dispose]();
      recovered?.[Symbol.dispose]();
    });
  }

  async close(): Promise<void> {}
}

/**
 * Over a bare ioredis client: the store bounds each operation itself and opens its own subscriber
 * connection (`duplicate()`) on first subscription. The client stays the caller's to close.
 */
export class ClientLink implements RedisLink {
  readonly #client: RedisClient;
  readonly #timeoutMs: number;
  #subscriber: RedisClient | null = null;
  readonly #channels = new Map<string, Set<(message: string) => void>>();
  readonly #resync = new Set<() => void>();
  #subscriberReadyOnce = false;

  constructor(client: RedisClient, timeoutMs: number) {
    this.#client = client;
    this.#timeoutMs = timeoutMs;
  }

  run<T>(operation: (client: RedisClient) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(
          new StoreUnavailableError(
            `Redis did not answer within ${this.#timeoutMs} ms; the operation may still be applied`,
          ),
        );
      }, this.#timeoutMs);
      timer.unref();
      operation(this.#client).then(
        (value) => {
          if (settled) return;
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          if (settled) return;
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  #ensureSubscriber(): RedisClient {
    if (this.#subscriber !== null) return this.#subscriber;
    // Its own connection: connects at once and holds SUBSCRIBE until it is up, whatever the
    // caller's client does; ioredis resubscribes it after reconnects.
    const subscriber: RedisClient = (this.#client as Redis).duplicate({
      lazyConnect: false,
      enableOfflineQueue: true,
      autoResubscribe: true,
    });
    subscriber.on('message', (channel: string, message: string) => {
      const listeners = this.#channels.get(channel);
      if (listeners === undefined) return;
      for (const listener of [...listeners]) listener(message);
    });
    subscriber.on('ready', () => {
      if (this.#subscriberReadyOnce) for (const listener of [...this.#resync]) listener();
      this.#subscriberReadyOnce = true;
    });
    // Errors surface through the command path; an unhandled 'error' event would crash the process.
    subscriber.on('error', () => undefined);
    this.#subscriber = subscriber;
    return subscriber;
  }

  subscribe(channel: string, listener: (message: string) => void): Disposable {
    const subscriber = this.#ensureSubscriber();
    let listeners = this.#channels.get(channel);
    if (listeners === undefined) {
      listeners = new Set();
      this.#channels.set(channel, listeners);
      subscriber.subscribe(channel).catch(() => undefined);
    }
    listeners.add(listener);
    return toDisposable(() => {
      const set = this.#channels.get(channel);
      if (set === undefined) return;
      set.delete(listener);
      if (set.size === 0) {
        this.#channels.delete(channel);
        this.#subscriber?.unsubscribe(channel).catch(() => undefined);
      }
    });
  }

  readonly canCheckSubscriber = true;

  /** PINGs the store's own subscriber connection; one that does not answer in time is reconnected. */
  checkSubscriber(): Promise<boolean> {
    const subscriber = this.#subscriber;
    if (subscriber === null) return Promise.resolve(false);
    return this.run(() => subscriber.ping()).then(
      () => true,
      () => {
        // ioredis reconnects (and resubscribes) it; its 'ready' fires the resync listeners.
        if (this.#subscriber === subscriber) subscriber.disconnect(true);
        return false;
      },
    );
  }

  onResync(listener: () => void): Disposable {
    this.#resync.add(listener);
    return toDisposable(() => this.#resync.delete(listener));
  }

  async close(): Promise<void> {
    const subscriber = this.#subscriber;
    this.#subscriber = null;
    this.#channels.clear();
    this.#resync.clear();
    if (subscriber !== null) subscriber.disconnect();
  }
}

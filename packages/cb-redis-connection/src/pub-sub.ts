import { type Disposable, Listeners, type Timing, toDisposable, withDeadline } from '@xnai/kit';
import type { Connection } from './connection.js';
import { RedisTimeoutError } from './errors/redis-timeout-error.js';
import type { SubscriberReconnectedEvent } from './events.js';

type MessageListener = (message: string) => void;

/** What the subscriber needs from the manager. */
export interface PubSubHost extends Timing {
  readonly operationTimeoutMs: number;
  /** A new subscriber connection, not connecting yet. */
  create(): Connection;
  /** The current (adaptive) connection timeout. */
  connectionTimeoutMs(): number;
  /** False before `connect()` and after `disconnect()`: no subscriber connection then. */
  mayConnect(): boolean;
  emitReconnected(event: SubscriberReconnectedEvent): void;
  emitError(error: unknown): void;
}

function noop(): void {}

/**
 * Pub/Sub on one dedicated subscriber connection (pub/sub concern): opened on first use, every
 * channel subscribed again after a reconnect, with `onReconnected` told when that is done.
 */
export class PubSub {
  readonly #host: PubSubHost;
  readonly #channels = new Map<string, Listeners<string>>();
  #connection: Connection | undefined;
  #readyCount = 0;

  constructor(host: PubSubHost) {
    this.#host = host;
  }

  get connected(): boolean {
    return this.#connection?.ready ?? false;
  }

  get channelCount(): number {
    return this.#channels.size;
  }

  /** The subscriber connection, if it exists (for the manager's bookkeeping). */
  get connection(): Connection | undefined {
    return this.#connection;
  }

  /** Adds `listener` to `channel`; the returned disposable removes it (and unsubscribes the last one). */
  subscribe(channel: string, listener: MessageListener): Disposable {
    let listeners = this.#channels.get(channel);
    if (listeners === undefined) {
      listeners = new Listeners();
      this.#channels.set(channel, listeners);
      const connection = this.#connection;
      if (connection?.ready) {
        this.#timed(connection.client.subscribe(channel)).catch((error) => this.#host.emitError(error));
      }
    }
    const subscription = listeners.add(listener);
    const added = listeners;
    this.ensure();
    return toDisposable(() => {
      subscription.dispose();
      if (added.size > 0 || this.#channels.get(channel) !== added) return;
      this.#channels.delete(channel);
      const connection = this.#connection;
      if (connection?.ready) connection.client.unsubscribe(channel).catch(noop);
    });
  }

  /** Opens the subscriber connection when there are channels and the manager may connect. */
  ensure(): void {
    if (this.#connection !== undefined || this.#channels.size === 0 || !this.#host.mayConnect()) return;
    const connection = this.#host.create();
    this.#connection = connection;
    connection.connect(this.#host.connectionTimeoutMs()).catch(noop);
  }

  /**
   * Delivers a message to the channel's listeners. A listener that throws does not stop the others
   * or the subscriber; its error is rethrown in a microtask (the kit's listener policy).
   */
  deliver(channel: string, message: string): void {
    this.#channels.get(channel)?.emit(message);
  }

  /** The subscriber connection became ready: subscribe every channel, and after a loss say so. */
  onReady(connection: Connection): void {
    if (connection !== this.#connection) return;
    const channels = [...this.#channels.keys()];
    this.#readyCount += 1;
    const isReconnect = this.#readyCount > 1;
    const done = () => {
      if (isReconnect && this.#host.mayConnect()) {
        this.#host.emitReconnected({ channels, at: this.#host.clock.now() });
      }
    };
    if (channels.length === 0) {
      done();
      return;
    }
    this.#timed(connection.client.subscribe(...channels)).then(done, (error) => {
      this.#host.emitError(error);
      // Subscriptions are all or nothing: reconnect and try again rather than run half subscribed.
      if (this.#host.mayConnect()) connection.client.disconnect(true);
    });
  }

  /**
   * An idle subscriber cannot notice a silent partition by itself: PING it on the subscriber
   * connection (the reply comes after every message published before it), and reconnect it when that
   * fails or times out; the reconnect subscribes every channel again and fires `onReconnected`.
   * Resolves `true` when the subscriber answered, `false` when it is not connected or did not answer.
   */
  check(): Promise<boolean> {
    const connection = this.#connection;
    if (connection === undefined || !connection.ready) {
      this.ensure();
      return Promise.resolve(false);
    }
    return this.#timed(connection.client.ping()).then(
      () => true,
      () => {
        if (this.#host.mayConnect() && connection === this.#connection) connection.client.disconnect(true);
        return false;
      },
    );
  }

  /** Forgets every channel and closes the subscriber connection at once. */
  close(): Promise<void> {
    this.#channels.clear();
    const connection = this.#connection;
    this.#connection = undefined;
    return connection === undefined ? Promise.resolve() : connection.close();
  }

  #timed<T>(promise: Promise<T>): Promise<T> {
    const timeoutMs = this.#host.operationTimeoutMs;
    return withDeadline(promise, timeoutMs, this.#host, () => new RedisTimeoutError(timeoutMs));
  }
}

import { Listeners } from '@xnai/kit';
import type { RedisManagerError } from './errors/redis-manager-error.js';
import type {
  AuthenticationFailedEvent,
  ConnectionErrorEvent,
  FallbackEnteredEvent,
  RecoveredEvent,
  SubscriberReconnectedEvent,
} from './events.js';

/**
 * The manager's typed events: one listener list per event, and the repeat filter of `onError`. A
 * listener that throws does not stop the manager or the other listeners; its error is rethrown in a
 * microtask (the kit's listener policy), not turned into an `onError` event: `onError` reports Redis.
 */
export class ManagerEvents {
  readonly fallbackEntered = new Listeners<FallbackEnteredEvent>();
  readonly recovered = new Listeners<RecoveredEvent>();
  readonly reconnected = new Listeners<SubscriberReconnectedEvent>();
  readonly authenticationFailed = new Listeners<AuthenticationFailedEvent>();
  readonly error = new Listeners<ConnectionErrorEvent>();
  #lastErrorKey: string | undefined;

  /** Emits an `onError` event, unless it repeats the previous one (same code and message). */
  emitError(error: RedisManagerError, at: number): void {
    const key = `${error.code}:${error.message}`;
    if (key === this.#lastErrorKey) return;
    this.#lastErrorKey = key;
    this.error.emit({ error, at });
  }

  /** After a recovery, the next error is news even if it repeats the last one. */
  forgetLastError(): void {
    this.#lastErrorKey = undefined;
  }

  clear(): void {
    this.fallbackEntered.clear();
    this.recovered.clear();
    this.reconnected.clear();
    this.authenticationFailed.clear();
    this.error.clear();
  }
}

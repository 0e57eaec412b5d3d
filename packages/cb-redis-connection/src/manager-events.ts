import type { RedisManagerError } from './errors/redis-manager-error.js';
import type {
  AuthenticationFailedEvent,
  ConnectionErrorEvent,
  FallbackEnteredEvent,
  RecoveredEvent,
  SubscriberReconnectedEvent,
} from './events.js';
import { ListenerSet } from './listener-set.js';

function noop(): void {}

/** The manager's typed events: one listener set per event, and the repeat filter of `onError`. */
export class ManagerEvents {
  readonly fallbackEntered: ListenerSet<FallbackEnteredEvent>;
  readonly recovered: ListenerSet<RecoveredEvent>;
  readonly reconnected: ListenerSet<SubscriberReconnectedEvent>;
  readonly authenticationFailed: ListenerSet<AuthenticationFailedEvent>;
  // A throwing error listener is not reported (that could loop).
  readonly error = new ListenerSet<ConnectionErrorEvent>(noop);
  #lastErrorKey: string | undefined;

  /** @param reportListenerError gets what a throwing listener threw; the manager reports it through `onError`. */
  constructor(reportListenerError: (error: unknown) => void) {
    this.fallbackEntered = new ListenerSet(reportListenerError);
    this.recovered = new ListenerSet(reportListenerError);
    this.reconnected = new ListenerSet(reportListenerError);
    this.authenticationFailed = new ListenerSet(reportListenerError);
  }

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

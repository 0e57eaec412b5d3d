import { ConfigurationBackoff } from './backoff.js';
import { RedisAuthenticationError } from './errors/redis-authentication-error.js';
import type { RedisManagerError } from './errors/redis-manager-error.js';

/**
 * A wrong password or a failed TLS handshake in force: what `connect()` rejects with, what the status
 * says, and the backoff of the retries (shared by every connection of the manager, so that a pool
 * and a subscriber failing together do not retry faster than one connection would).
 */
export class ConfigurationFailure {
  readonly #backoff: ConfigurationBackoff;
  readonly #onAuthenticationFailed: (error: RedisAuthenticationError) => void;
  #error: RedisManagerError | undefined;
  #authenticationFailed = false;

  /** @param onAuthenticationFailed called when credentials start being refused (once per episode). */
  constructor(onAuthenticationFailed: (error: RedisAuthenticationError) => void, random = Math.random) {
    this.#backoff = new ConfigurationBackoff(random);
    this.#onAuthenticationFailed = onAuthenticationFailed;
  }

  /** The failure in force, if any. */
  get error(): RedisManagerError | undefined {
    return this.#error;
  }

  /** True while Redis refuses the credentials. */
  get authenticationFailed(): boolean {
    return this.#authenticationFailed;
  }

  /** Records a refused password or TLS handshake. */
  note(error: RedisManagerError): void {
    this.#error = error;
    if (!RedisAuthenticationError.isInstance(error) || this.#authenticationFailed) return;
    this.#authenticationFailed = true;
    this.#onAuthenticationFailed(error);
  }

  /** The delay before the next retry (1 s doubling up to 30 s); counts one more failure. */
  nextDelayMs(): number {
    return this.#backoff.nextDelayMs();
  }

  /** A connection became ready: the failure is over. */
  clear(): void {
    this.#error = undefined;
    this.#authenticationFailed = false;
    this.#backoff.reset();
  }
}

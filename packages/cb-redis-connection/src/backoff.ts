/** First reconnect delay after a connection loss; it doubles per attempt up to `reconnectMaxDelayMs`. */
export const RECONNECT_BASE_DELAY_MS = 50;
/** First retry delay after a wrong password or a failed TLS handshake. */
export const CONFIGURATION_RETRY_BASE_DELAY_MS = 1_000;
/** Cap of the retry delay after a wrong password or a failed TLS handshake. */
export const CONFIGURATION_RETRY_MAX_DELAY_MS = 30_000;

/** Up to 10 % more: keeps a fleet from retrying in lockstep. */
function withJitter(delayMs: number, random: () => number): number {
  return Math.round(delayMs * (1 + random() * 0.1));
}

/** Reconnect delay after a connection loss: 50, 100, 200 ms ... capped at `maxDelayMs`, plus jitter. */
export function reconnectDelayMs(attempt: number, maxDelayMs: number, random = Math.random): number {
  const delay = Math.min(RECONNECT_BASE_DELAY_MS * 2 ** Math.min(Math.max(attempt, 1) - 1, 20), maxDelayMs);
  return withJitter(delay, random);
}

/**
 * Retry delays while Redis refuses the credentials or the TLS handshake fails: 1 s, 2 s, 4 s ...
 * capped at 30 s (plus up to 10 % jitter). Such failures do not heal in milliseconds, but an operator
 * may fix them at any time (`CONFIG SET requirepass`, a new certificate), so retrying never stops.
 */
export class ConfigurationBackoff {
  #failures = 0;
  readonly #random: () => number;

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  /** Consecutive configuration failures so far. */
  get failures(): number {
    return this.#failures;
  }

  /** The delay before the next retry; each call counts one more failure. */
  nextDelayMs(): number {
    const delay = Math.min(
      CONFIGURATION_RETRY_BASE_DELAY_MS * 2 ** Math.min(this.#failures, 20),
      CONFIGURATION_RETRY_MAX_DELAY_MS,
    );
    this.#failures += 1;
    return withJitter(delay, this.#random);
  }

  reset(): void {
    this.#failures = 0;
  }
}

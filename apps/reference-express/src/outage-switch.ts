import { type FaultProxy, startFaultProxy } from '@xnai/test-utils';

/**
 * How the outage switch cuts Redis off: `reset` drops every connection and refuses new ones (Redis
 * gone: noticed at once); `blackhole` holds every byte both ways (a partition: noticed at the next
 * command, within the operation timeout, and the held commands are delivered when it heals).
 */
export type OutageMode = 'reset' | 'blackhole';

/** The outage switch's state. */
export interface OutageStatus {
  readonly available: boolean;
  readonly active: boolean;
  readonly mode: OutageMode;
  readonly since: number | null;
}

/**
 * A TCP fault proxy (`startFaultProxy` of the repository's test harness) between this instance's
 * circuit breakers and Redis: the registry connects through it, so switching it on cuts this
 * instance off from Redis while the rest of the fleet (and this instance's fleet monitor, which
 * connects directly) goes on.
 */
export class OutageSwitch {
  readonly #proxy: FaultProxy;
  #active = false;
  #mode: OutageMode = 'reset';
  #since: number | null = null;

  private constructor(proxy: FaultProxy) {
    this.#proxy = proxy;
  }

  /**
   * Starts the proxy in front of `redisUrl`, passing traffic. `null` for `rediss://`: a TCP proxy on
   * another address would fail the server certificate's host name check.
   */
  static async start(redisUrl: string): Promise<OutageSwitch | null> {
    const url = new URL(redisUrl);
    if (url.protocol !== 'redis:') return null;
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost';
    const port = url.port === '' ? 6379 : Number(url.port);
    return new OutageSwitch(await startFaultProxy({ target: { host, port, url: redisUrl } }));
  }

  /** The URL to connect through: the Redis URL with the proxy's host and port, credentials kept. */
  get url(): string {
    return this.#proxy.url;
  }

  get status(): OutageStatus {
    return { available: true, active: this.#active, mode: this.#mode, since: this.#since };
  }

  /** Switches the outage on (in `mode`) or off. */
  set(active: boolean, mode: OutageMode = this.#mode): OutageStatus {
    this.#mode = mode;
    if (active !== this.#active || active) {
      this.#proxy.setMode(active ? mode : 'pass');
      if (active !== this.#active) this.#since = Date.now();
      this.#active = active;
    }
    return this.status;
  }

  close(): Promise<void> {
    return this.#proxy.close();
  }
}

/** The status shown when there is no switch (memory only, or TLS). */
export const NO_OUTAGE_SWITCH: OutageStatus = Object.freeze({
  available: false,
  active: false,
  mode: 'reset',
  since: null,
});

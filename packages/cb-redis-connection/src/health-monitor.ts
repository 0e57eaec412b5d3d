import type { TimerHandle, Timing } from '@xnai/kit';
import type { RedisManagerError } from './errors/redis-manager-error.js';
import type { ConnectionMode } from './health-status.js';

/** How one health probe ended. */
export type ProbeOutcome =
  | { readonly kind: 'healthy'; readonly latencyMs: number }
  | { readonly kind: 'unhealthy'; readonly error: RedisManagerError }
  /** No connection is ready to probe. */
  | { readonly kind: 'no-connection' };

/** What the health loop needs from the manager. */
export interface HealthHost extends Timing {
  readonly healthCheckIntervalMs: number;
  readonly fallbackProbeIntervalMs: number;
  readonly recoveryThreshold: number;
  mode(): ConnectionMode;
  /** Runs one probe; never rejects. */
  probe(): Promise<ProbeOutcome>;
  /** A probe passed. */
  onHealthy(latencyMs: number): void;
  /** A probe failed, or found no connection while the manager was connected: evidence. */
  onUnhealthy(outcome: Exclude<ProbeOutcome, { kind: 'healthy' }>): void;
  /** `recoveryThreshold` consecutive probes passed in fallback mode: leave it. */
  recover(): void;
}

/**
 * The health loop (health concern): a probe every `healthCheckIntervalMs` while connected, every
 * `fallbackProbeIntervalMs` in fallback mode, and hysteresis: leaving fallback takes
 * `recoveryThreshold` consecutive healthy probes; one failure starts the count again.
 */
export class HealthMonitor {
  readonly #host: HealthHost;
  #timer: TimerHandle | undefined;
  #probing = false;
  #healthyProbes = 0;
  #stopped = false;

  constructor(host: HealthHost) {
    this.#host = host;
  }

  /** Consecutive healthy probes in fallback mode so far. */
  get healthyProbes(): number {
    return this.#healthyProbes;
  }

  /** Probes after `delayMs`, replacing the pending probe. */
  schedule(delayMs: number): void {
    if (this.#stopped) return;
    const { clock } = this.#host;
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#run();
    }, delayMs);
  }

  /** Schedules the next probe at the period of the current mode (none while connecting or closed). */
  scheduleForMode(): void {
    const mode = this.#host.mode();
    if (mode === 'connected') this.schedule(this.#host.healthCheckIntervalMs);
    else if (mode === 'fallback') this.schedule(this.#host.fallbackProbeIntervalMs);
  }

  /** Starts the healthy-probe count from zero (on entering fallback). */
  resetHysteresis(): void {
    this.#healthyProbes = 0;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#host.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #run(): Promise<void> {
    if (this.#probing || this.#stopped) return;
    this.#probing = true;
    try {
      const outcome = await this.#host.probe();
      if (this.#stopped) return;
      if (outcome.kind !== 'healthy') {
        this.#healthyProbes = 0;
        this.#host.onUnhealthy(outcome);
        return;
      }
      this.#host.onHealthy(outcome.latencyMs);
      if (this.#host.mode() === 'fallback') {
        this.#healthyProbes += 1;
        if (this.#healthyProbes >= this.#host.recoveryThreshold) {
          this.#healthyProbes = 0;
          this.#host.recover();
        }
      }
    } finally {
      this.#probing = false;
      if (!this.#stopped) this.scheduleForMode();
    }
  }
}

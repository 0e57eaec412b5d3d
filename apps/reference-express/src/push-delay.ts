import type { CircuitBreakerRegistry } from '@xnai/cb-registry';
import { quantile } from './call-stats.js';
import type { PushDelaySummary } from './fleet.js';

/**
 * How long state changes take to reach this instance: for every transition delivered by the store
 * while Redis is in use, Redis time now minus Redis time of the transition (what
 * `circuit_breaker_state_propagation_delay_seconds` of `@xnai/cb-prometheus` measures). Changes the
 * memory mirror makes during an outage are not pushes and are left out. Keeps the last 200.
 */
export class PushDelay {
  readonly #samples: number[] = [];
  #last: number | null = null;

  /** Listens to the registry's state manager; the disposable stops it. */
  watch(registry: CircuitBreakerRegistry, onSample: () => void): { dispose(): void } {
    return registry.stateManager.subscribe((change) => {
      if (change.transition === null || !registry.stateManager.redisAvailable) return;
      this.add(registry.stateManager.clock.now() - change.transition.at);
      onSample();
    });
  }

  add(delayMs: number): void {
    const value = Math.max(0, Math.round(delayMs * 10) / 10);
    this.#last = value;
    this.#samples.push(value);
    if (this.#samples.length > 200) this.#samples.shift();
  }

  summary(): PushDelaySummary {
    return {
      samples: this.#samples.length,
      lastMs: this.#last,
      p50Ms: quantile(this.#samples, 0.5),
      p99Ms: quantile(this.#samples, 0.99),
    };
  }
}

import type { CircuitBreaker } from '@xnai/cb-core';
import { PROTECTS } from './circuits.js';
import { type CircuitFacts, factsOf } from './fleet.js';
import type { DependencyName } from './simulation.js';

/** One circuit as `/circuits` and the dashboard show it. */
export interface CircuitView extends CircuitFacts {
  readonly name: string;
  /** The simulated dependency it protects. */
  readonly dependency: DependencyName | null;
  readonly decidedAt: number;
  readonly lastStateChange: number;
  readonly lastFailureTime: number;
  readonly lastSuccessTime: number;
  readonly consecutiveOpens: number;
  readonly halfOpenRound: number;
  /** Milliseconds until an open circuit may admit probes; `null` when not open. */
  readonly openRemainingMs: number | null;
  /** Probe leases held now, across the fleet. */
  readonly probeLeases: readonly {
    readonly id: string;
    readonly round: number;
    readonly expiresInMs: number;
  }[];
  /** Epoch ms (this process's clock) at which this instance's view took its current status. */
  readonly statusSince: number;
  readonly policy: {
    readonly failureThreshold: number;
    readonly successThreshold: number;
    readonly openTimeoutMs: number;
    readonly maxOpenTimeoutMs: number;
    readonly halfOpenMaxCalls: number;
    readonly slidingWindow: string | null;
  };
}

/**
 * A breaker's view of its circuit at `now` (store clock), as `/circuits` and the dashboard show it.
 * @param statusSince when this instance's view took its current status (this process's clock).
 */
export function circuitViewOf(
  breaker: CircuitBreaker<unknown>,
  now: number,
  statusSince: number,
): CircuitView {
  const data = breaker.stateData;
  const policy = breaker.policy;
  const window = policy.slidingWindow;
  return {
    name: breaker.name,
    ...factsOf(data, now),
    status: breaker.status,
    dependency: PROTECTS[breaker.name] ?? null,
    decidedAt: data.decidedAt,
    lastStateChange: data.lastStateChange,
    lastFailureTime: data.lastFailureTime,
    lastSuccessTime: data.lastSuccessTime,
    consecutiveOpens: data.consecutiveOpens,
    halfOpenRound: data.halfOpenRound,
    openRemainingMs: data.state === 'open' && data.openUntil > now ? data.openUntil - now : null,
    probeLeases: data.probes
      .filter((probe) => probe.expiresAt > now)
      .map((probe) => ({ id: probe.id, round: probe.round, expiresInMs: probe.expiresAt - now })),
    statusSince,
    policy: {
      failureThreshold: policy.failureThreshold,
      successThreshold: policy.successThreshold,
      openTimeoutMs: policy.openTimeoutMs,
      maxOpenTimeoutMs: policy.maxOpenTimeoutMs,
      halfOpenMaxCalls: policy.halfOpenMaxCalls,
      slidingWindow:
        window === null
          ? null
          : window.type === 'count'
            ? `last ${window.size} calls, ${policy.failureRateThreshold * 100}% failures, at least ${policy.minimumCalls}`
            : `last ${window.durationMs} ms`,
    },
  };
}

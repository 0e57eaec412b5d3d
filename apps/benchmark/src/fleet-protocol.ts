import type { LatencySummary, SparseHistogram } from './latency-histogram.js';

/** Name of the circuit that fails, opens and probes on every instance; the others are `c0000` … */
export const HOT_CIRCUIT = 'hot';

/** Handed to each fleet worker process as JSON in argv[2]. */
export interface FleetWorkerConfig {
  readonly redisUrl: string;
  /** Circuits per instance besides the hot one. */
  readonly circuits: number;
  /** `maxConnections` of each instance's RedisConnectionManager. */
  readonly maxConnections: number;
  /** How often the load generator runs, ms. */
  readonly tickMs: number;
  /** Policy of the hot circuit. */
  readonly hot: {
    readonly failureThreshold: number;
    readonly openTimeoutMs: number;
    readonly successThreshold: number;
    readonly halfOpenMaxCalls: number;
  };
}

/** `add`: new instances in this process, each with its own connection manager and circuits. */
export interface AddCommand {
  /** Index of the first new instance in the fleet (names its connections). */
  readonly firstIndex: number;
  readonly count: number;
  /** Key prefix of the registries: instances with the same prefix share their circuits. */
  readonly keyPrefix: string;
  /** A sliding window on every circuit but the hot one, or none. */
  readonly slidingWindow: { readonly type: 'count'; readonly size: number } | null;
}

/** `load`: what every instance of the process calls from now on. */
export interface LoadCommand {
  /** Calls per second on each of the first `activeCircuits` circuits (0: none). */
  readonly callsPerSecondPerCircuit: number;
  readonly activeCircuits: number;
  /** Calls of the hot circuit per second per instance, and what they do. */
  readonly hot: {
    readonly mode: 'off' | 'fail' | 'succeed';
    readonly callsPerSecond: number;
    /** How long a successful hot call takes (a downstream that answers again), ms. */
    readonly delayMs: number;
  };
}

/** Events an instance saw, epoch ms. */
export interface InstanceEvents {
  readonly fallbackEntered: number[];
  readonly recovered: number[];
  readonly reconciled: Array<{
    readonly at: number;
    readonly trigger: string;
    readonly merged: number;
    readonly reseeded: number;
    readonly failed: number;
  }>;
  readonly hotTransitions: Array<{ readonly at: number; readonly to: string }>;
}

/** One instance's figures over one phase. */
export interface InstanceStats {
  readonly index: number;
  /** Background calls made (on the ordinary circuits) and how many did not succeed. */
  readonly calls: number;
  readonly callsNotSucceeded: number;
  readonly latency: LatencySummary;
  readonly hotCalls: number;
  readonly hotRejected: number;
  readonly hotLatency: LatencySummary;
  /** Store operations the state manager reported, by operation and by where they were served. */
  readonly operations: Readonly<Record<string, number>>;
  /** Commands its connections sent, by command (what Redis executes inside scripts not included). */
  readonly sent: Readonly<Record<string, number>>;
  readonly events: InstanceEvents;
  /** The hot circuit's status in this instance's view when the phase ended. */
  readonly hotStatus: string;
  readonly fallbackMode: boolean;
}

/** `end`: the phase's figures of this process. */
export interface PhaseReport {
  readonly instances: InstanceStats[];
  /** Every background call of the process, and every hot call, for fleet-wide percentiles. */
  readonly latency: SparseHistogram;
  readonly hotLatency: SparseHistogram;
  /** CPU the process used over the phase, ms (user + system). */
  readonly cpuMs: number;
  /** Event-loop delay p99 over the phase, ms: how loaded the process was. */
  readonly eventLoopDelayP99Ms: number;
  /** Background calls the load generator owed but could not make (it fell behind). */
  readonly callsBehind: number;
}

/** `recoveryStatus`: how far the instances of a process are after Redis came back. */
export interface RecoveryStatus {
  readonly inFallback: number;
  readonly notReconciled: number;
  /** Epoch ms of the latest reconciliation event, 0 for none. */
  readonly lastReconciledAt: number;
}

/** A measured phase, as the extrapolation needs it. */
export interface MeasuredLoad {
  readonly key: string;
  readonly label: string;
  readonly instances: number;
  /** Commands the instances sent per second, all of them together. */
  readonly commandsPerSecond: number;
  /** Commands Redis executed per second, those run inside scripts included. */
  readonly executedPerSecond: number;
  /** Share of one core Redis used, 1 = 100 %. */
  readonly cpuCores: number;
}

export interface ExtrapolatedPoint {
  readonly instances: number;
  readonly commandsPerSecond: number;
  readonly cpuCores: number;
  /** Whether one Redis core (100 %) carries it. */
  readonly holds: boolean;
}

export interface ExtrapolatedLine {
  readonly key: string;
  readonly label: string;
  readonly measuredInstances: number;
  readonly commandsPerSecondPerInstance: number;
  readonly executedPerSecondPerInstance: number;
  readonly cpuCoresPerInstance: number;
  /** How many instances one core carries at this rate: 1 / cpuCoresPerInstance. */
  readonly instancesPerCore: number;
  readonly points: readonly ExtrapolatedPoint[];
}

export interface FleetExtrapolation {
  readonly formula: string;
  readonly lines: readonly ExtrapolatedLine[];
}

export const EXTRAPOLATION_FORMULA =
  'per instance c = (Δused_cpu_user + Δused_cpu_sys) / (Δt × N) and r = commands sent / (Δt × N), measured with N instances; ' +
  'at M instances Redis CPU = M × c and commands/s = M × r; one Redis core holds M instances when M × c ≤ 1 (100 %). ' +
  'Linear in M: every instance costs the same and Redis is single-threaded; ' +
  "the fixed part of Redis's own CPU (serverCron) is charged to the instances, which errs on the high side.";

/** Scales each measured load linearly to each fleet size in `targets`. */
export function extrapolate(loads: readonly MeasuredLoad[], targets: readonly number[]): FleetExtrapolation {
  return {
    formula: EXTRAPOLATION_FORMULA,
    lines: loads.map((load) => {
      const commandsPerSecondPerInstance = load.commandsPerSecond / load.instances;
      const cpuCoresPerInstance = load.cpuCores / load.instances;
      return {
        key: load.key,
        label: load.label,
        measuredInstances: load.instances,
        commandsPerSecondPerInstance,
        executedPerSecondPerInstance: load.executedPerSecond / load.instances,
        cpuCoresPerInstance,
        instancesPerCore: cpuCoresPerInstance > 0 ? 1 / cpuCoresPerInstance : Number.POSITIVE_INFINITY,
        points: targets.map((instances) => {
          const cpuCores = instances * cpuCoresPerInstance;
          return {
            instances,
            commandsPerSecond: instances * commandsPerSecondPerInstance,
            cpuCores,
            holds: cpuCores <= 1,
          };
        }),
      };
    }),
  };
}

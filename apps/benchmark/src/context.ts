import { Redis } from 'ioredis';
import { type Progress, silentProgress } from './progress.js';

/** Settings of the fleet simulation given on the command line (the rest take their defaults). */
export interface FleetOverrides {
  readonly instances?: number;
  readonly circuits?: number;
  readonly processes?: number;
  readonly phaseMs?: number;
  readonly warmupMs?: number;
  readonly callsPerSecondPerCircuit?: number;
  readonly windowInstances?: number;
  readonly downMs?: number;
}

/** What every measurement gets from the command: the mode and the Redis to use. */
export interface BenchContext {
  /** Small iteration counts: every measurement runs, in seconds. */
  readonly quick: boolean;
  readonly redisUrl: string;
  /** Unique to this run, so that a shared Redis (REDIS_URL) is never written outside it. */
  readonly keyPrefix: string;
  /** Where a long measurement says which step it is in (stderr). */
  readonly progress: Progress;
  readonly fleet: FleetOverrides;
  /** A new ioredis connection, closed when the run ends. */
  createClient(): Redis;
}

export function createContext(
  quick: boolean,
  redisUrl: string,
  extras: { readonly progress?: Progress; readonly fleet?: FleetOverrides } = {},
): BenchContext & { close(): void } {
  const clients: Redis[] = [];
  return {
    quick,
    redisUrl,
    keyPrefix: `xnai-bench:${process.pid}:${Date.now().toString(36)}:`,
    progress: extras.progress ?? silentProgress,
    fleet: extras.fleet ?? {},
    createClient() {
      const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
      clients.push(client);
      return client;
    },
    close() {
      for (const client of clients) client.disconnect();
    },
  };
}

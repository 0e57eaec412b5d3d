import { Redis } from 'ioredis';

/** What every measurement gets from the command: the mode and the Redis to use. */
export interface BenchContext {
  /** Small iteration counts: every measurement runs, in seconds. */
  readonly quick: boolean;
  readonly redisUrl: string;
  /** Unique to this run, so that a shared Redis (REDIS_URL) is never written outside it. */
  readonly keyPrefix: string;
  /** A new ioredis connection, closed when the run ends. */
  createClient(): Redis;
}

export function createContext(quick: boolean, redisUrl: string): BenchContext & { close(): void } {
  const clients: Redis[] = [];
  return {
    quick,
    redisUrl,
    keyPrefix: `xnai-bench:${process.pid}:${Date.now().toString(36)}:`,
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

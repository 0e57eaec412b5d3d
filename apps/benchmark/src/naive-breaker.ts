import type { Redis } from 'ioredis';

/** Admission: 1 unless the circuit is open and its open period has not ended. */
const ADMIT = `
local state = redis.call('HMGET', KEYS[1], 'state', 'open_until')
if state[1] == 'open' and tonumber(state[2] or '0') > tonumber(ARGV[1]) then return 0 end
return 1`;

/** A failure: counts it, opens the circuit at the threshold. */
const RECORD_FAILURE = `
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if failures >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'open_until', tonumber(ARGV[1]) + tonumber(ARGV[3]), 'failures', 0)
end
return failures`;

type NaiveClient = Redis & {
  naiveAdmit(key: string, now: number): Promise<number>;
  naiveRecordFailure(key: string, now: number, threshold: number, openMs: number): Promise<number>;
};

/**
 * The baseline: the shared breaker a seed design implies, whose state lives in Redis only. Every
 * call first asks Redis whether the circuit admits it (one EVALSHA round trip), and a failure is
 * one more. Nothing is cached locally, so the closed path costs a round trip per call.
 */
export class NaiveSharedBreaker {
  readonly #client: NaiveClient;
  readonly #key: string;
  readonly #failureThreshold: number;
  readonly #openTimeoutMs: number;

  constructor(
    client: Redis,
    key: string,
    options: { failureThreshold?: number; openTimeoutMs?: number } = {},
  ) {
    // defineCommand sends EVALSHA, and EVAL once when the script is not cached.
    client.defineCommand('naiveAdmit', { numberOfKeys: 1, lua: ADMIT });
    client.defineCommand('naiveRecordFailure', { numberOfKeys: 1, lua: RECORD_FAILURE });
    this.#client = client as NaiveClient;
    this.#key = key;
    this.#failureThreshold = options.failureThreshold ?? 5;
    this.#openTimeoutMs = options.openTimeoutMs ?? 60_000;
  }

  async execute<T>(fn: () => Promise<T>): Promise<T> {
    if ((await this.#client.naiveAdmit(this.#key, Date.now())) === 0) {
      throw new Error(`circuit ${this.#key} is open`);
    }
    try {
      return await fn();
    } catch (error) {
      await this.#client.naiveRecordFailure(
        this.#key,
        Date.now(),
        this.#failureThreshold,
        this.#openTimeoutMs,
      );
      throw error;
    }
  }
}

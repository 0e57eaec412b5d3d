import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { type CommandHost, runCommand } from './commands.js';
import type { Connection } from './connection.js';
import { RedisCommandError } from './errors/redis-command-error.js';
import type { RedisManagerError } from './errors/redis-manager-error.js';
import type { ProbeOutcome } from './health-monitor.js';

/**
 * The key the health probe writes: `<connectionName>:health:<random id>`, one per manager, so that
 * managers never contend on it.
 */
export function healthProbeKey(connectionName: string): string {
  return `${connectionName}:health:${randomUUID()}`;
}

/** How long the probe's key lives: long enough to outlast one probe, short enough to vanish soon. */
export function healthProbeTtlMs(operationTimeoutMs: number): number {
  return Math.max(5_000, 2 * operationTimeoutMs);
}

/**
 * The health probe: a `SET key 1 PX ttl`, so that it tests the write path the callers need, not
 * only that the server answers. A PING passes while `CLIENT PAUSE WRITE`, a read-only replica or a
 * server that blocks writes would fail every real call; the SET fails (times out, or READONLY) there.
 */
export function writeProbe(key: string, ttlMs: number): (client: Redis) => Promise<unknown> {
  return (client) => client.set(key, '1', 'PX', ttlMs);
}

/**
 * Runs `probe` on `connection` (the pool's least busy ready one) under `timeoutMs`. An error reply
 * (NOPERM, OOM...) is an answer: Redis serves, as it would serve callers; READONLY, LOADING and
 * MASTERDOWN, timeouts and connection errors are not.
 */
export async function runProbe(
  connection: Connection | undefined,
  probe: (client: Redis) => Promise<unknown>,
  timeoutMs: number,
  host: CommandHost,
  toManagerError: (raw: unknown) => RedisManagerError,
): Promise<ProbeOutcome> {
  if (connection === undefined) return { kind: 'no-connection' };
  const result = await runCommand(connection, probe, timeoutMs, host);
  if (result.kind === 'value') return { kind: 'healthy', latencyMs: result.latencyMs };
  const error = result.kind === 'timeout' ? result.error : toManagerError(result.error);
  if (RedisCommandError.isInstance(error))
    return { kind: 'healthy', latencyMs: result.kind === 'error' ? result.latencyMs : 0 };
  return { kind: 'unhealthy', error };
}

import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

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

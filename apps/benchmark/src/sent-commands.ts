import { Redis } from 'ioredis';

/** Commands sent, by connection name and command (lower case). */
export type SentCommands = Map<string, Record<string, number>>;

let installed: SentCommands | undefined;

/**
 * Counts every command sent on an ioredis connection whose `connectionName` is listed in the
 * returned map (the subscriber's `:subscriber` suffix is taken off, so a connection manager's
 * connections count together). Redis's own counters include the commands a script runs inside
 * (TIME, HGETALL, … of one EVALSHA) and cannot tell clients apart; this counts what goes on the
 * wire. It wraps `Redis.prototype.sendCommand` once per process: the connection manager builds on
 * the same ioredis module as this file, so it sees every one of its connections.
 */
export function countSentCommands(): SentCommands {
  if (installed !== undefined) return installed;
  const counts: SentCommands = new Map();
  type SendCommand = (this: Redis, command: { name: string }, stream?: unknown) => unknown;
  const prototype = Redis.prototype as unknown as { sendCommand: SendCommand };
  const original = prototype.sendCommand;
  prototype.sendCommand = function sendCommand(this: Redis, command, stream) {
    const name: unknown = this.options.connectionName;
    if (typeof name === 'string' && (this.status === 'ready' || this.status === 'connect')) {
      const owner = counts.get(name.endsWith(':subscriber') ? name.slice(0, -':subscriber'.length) : name);
      // ioredis keeps the case the caller used (`EVALSHA_RO`, `set`).
      const key = command.name.toLowerCase();
      if (owner !== undefined) owner[key] = (owner[key] ?? 0) + 1;
    }
    return original.call(this, command, stream);
  };
  installed = counts;
  return counts;
}

/** The sum of a count by command. */
export function total(counts: Readonly<Record<string, number>> | undefined): number {
  return Object.values(counts ?? {}).reduce((sum, count) => sum + count, 0);
}

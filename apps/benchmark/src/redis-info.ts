import type { Redis } from 'ioredis';

/** What one `INFO all` tells about the cost Redis has paid so far (counters since the server started). */
export interface RedisCounters {
  /** Epoch ms when the reply arrived. */
  readonly at: number;
  readonly totalCommands: number;
  /** `used_cpu_user + used_cpu_sys`, seconds of CPU the server process has used. */
  readonly cpuSeconds: number;
  readonly connectedClients: number;
  readonly uptimeSeconds: number;
  /** Calls per command (`cmdstat_<name>`), e.g. `evalsha`, `publish`. */
  readonly commands: Readonly<Record<string, number>>;
  /** Microseconds of server time per command. */
  readonly commandUsec: Readonly<Record<string, number>>;
}

function field(info: string, name: string): number {
  const match = new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info);
  return match === null ? Number.NaN : Number(match[1]);
}

/** Parses the reply of `INFO all` (any Redis ≥ 6). */
export function parseInfo(info: string, at = Date.now()): RedisCounters {
  const commands: Record<string, number> = {};
  const commandUsec: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    const name = (match[1] as string).toLowerCase();
    commands[name] = Number(match[2]);
    commandUsec[name] = Number(match[3]);
  }
  return {
    at,
    totalCommands: field(info, 'total_commands_processed'),
    cpuSeconds: field(info, 'used_cpu_user') + field(info, 'used_cpu_sys'),
    connectedClients: field(info, 'connected_clients'),
    uptimeSeconds: field(info, 'uptime_in_seconds'),
    commands,
    commandUsec,
  };
}

/** A sample of the counters: one INFO command, which {@link difference} leaves out. */
export async function sampleRedis(client: Redis): Promise<RedisCounters> {
  const info = await client.info('all');
  return parseInfo(info);
}

/** The counters of a freshly started server, before it has served anything. */
export function zeroCounters(at: number): RedisCounters {
  return {
    at,
    totalCommands: 0,
    cpuSeconds: 0,
    connectedClients: 0,
    uptimeSeconds: 0,
    commands: {},
    commandUsec: {},
  };
}

/** What Redis did between two samples. */
export interface RedisDelta {
  readonly durationMs: number;
  /** Commands processed, the sampler's own INFO commands left out. */
  readonly commands: number;
  readonly commandsPerSecond: number;
  readonly cpuSeconds: number;
  /** Share of one core the server used, 1 = 100 %. */
  readonly cpuCores: number;
  /** Calls per command name, busiest first, INFO left out. */
  readonly byCommand: ReadonlyArray<{
    readonly command: string;
    readonly calls: number;
    readonly usec: number;
  }>;
}

/**
 * The difference of two samples. Commands are summed over INFO commandstats without `info`, so the
 * sampler's own INFO commands never count; those scripts run inside (TIME, HGETALL, …) do.
 */
export function difference(before: RedisCounters, after: RedisCounters): RedisDelta {
  const durationMs = after.at - before.at;
  const byCommand: Array<{ command: string; calls: number; usec: number }> = [];
  let commands = 0;
  for (const [command, calls] of Object.entries(after.commands)) {
    if (command === 'info') continue;
    const delta = calls - (before.commands[command] ?? 0);
    if (delta <= 0) continue;
    commands += delta;
    byCommand.push({
      command,
      calls: delta,
      usec: (after.commandUsec[command] ?? 0) - (before.commandUsec[command] ?? 0),
    });
  }
  byCommand.sort((a, b) => b.calls - a.calls);
  const cpuSeconds = after.cpuSeconds - before.cpuSeconds;
  return {
    durationMs,
    commands,
    commandsPerSecond: durationMs > 0 ? (commands * 1_000) / durationMs : Number.NaN,
    cpuSeconds,
    cpuCores: durationMs > 0 ? (cpuSeconds * 1_000) / durationMs : Number.NaN,
    byCommand,
  };
}

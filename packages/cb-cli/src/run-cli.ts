import {
  type CircuitStateChange,
  type CircuitStateData,
  DEFAULT_POLICY,
  effectiveStatus,
  InvalidCircuitNameError,
  type OverrideMode,
  validateCircuitName,
} from '@xnai/cb-core';
import { RedisConnectionManager, type RedisManagerError } from '@xnai/cb-redis-connection';
import { RedisStateStore } from '@xnai/cb-store-redis';

/** Where the CLI writes, and what it reads from the environment (injectable for tests). */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Resolves when `watch` should stop (Ctrl-C). */
  readonly interrupted?: Promise<void>;
}

/** Exit codes of `xnai-cb`. */
export const EXIT_CODES = Object.freeze({
  ok: 0,
  /** Redis could not be reached or refused the credentials, or a command failed. */
  redis: 1,
  /** The command line is wrong (unknown command or option, bad duration, invalid URL or name). */
  usage: 2,
  /** The named circuit has no state in Redis. */
  unknownCircuit: 3,
});

/** The help text: printed by `xnai-cb --help`, and on stderr when no command is given. */
export const USAGE = `Usage: xnai-cb [options] <command> [arguments]

Operates the @xnai circuit breakers whose state is in Redis.

Commands:
  list                          every circuit: status, state, counts, open until, override
  show <name>                   one circuit, every field
  force-open <name>             force the circuit open across the fleet
  force-closed <name>           force it closed (calls pass, nothing is counted)
      --reason <text>             shown in status and events
      --duration <time>           lapse after this long (1500ms, 30s, 5m, 1h; digits alone: ms)
      --create                    allow a circuit that has no state yet
  clear <name>                  remove the override
  reset <name>                  close it and clear counters, backoff and override
  delete <name>                 delete its state (the fleet treats it as fresh and closed)
  watch [name]                  print status changes as they happen, until Ctrl-C

Options:
  --url <redis-url>             default: $REDIS_URL, else redis://localhost:6379
  --prefix <key-prefix>         default: circuit_breaker:
  --timeout <time>              how long to wait for Redis (default 5s)
  --json                        machine-readable output (one JSON document per line for watch)
  -h, --help                    this text

Exit codes: 0 ok, 1 Redis unreachable or refused, 2 usage error, 3 unknown circuit.`;

/** A failure the CLI reports as one line and an exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

interface Parsed {
  command: string | undefined;
  positionals: string[];
  url: string;
  prefix: string;
  timeoutMs: number;
  json: boolean;
  reason: string | undefined;
  durationMs: number | undefined;
  create: boolean;
  help: boolean;
}

/** `1500ms`, `30s`, `5m`, `1h`, or digits alone (milliseconds). */
export function parseDuration(text: string, option: string): number {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(text.trim());
  const factor = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
  const value =
    match === null ? Number.NaN : Number(match[1]) * factor[(match[2] ?? 'ms') as keyof typeof factor];
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new CliError(
      EXIT_CODES.usage,
      `${option} must be a positive duration such as 1500ms, 30s, 5m or 1h, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

function parseArguments(argv: readonly string[], env: CliIo['env']): Parsed {
  const parsed: Parsed = {
    command: undefined,
    positionals: [],
    url: env.REDIS_URL ?? 'redis://localhost:6379',
    prefix: 'circuit_breaker:',
    timeoutMs: 5_000,
    json: false,
    reason: undefined,
    durationMs: undefined,
    create: false,
    help: false,
  };
  const optionValue = (index: number, option: string): string => {
    const value = argv[index + 1];
    if (value === undefined) throw new CliError(EXIT_CODES.usage, `${option} needs a value`);
    return value;
  };
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index] as string;
    switch (argument) {
      case '--url':
        parsed.url = optionValue(index, argument);
        index += 1;
        break;
      case '--prefix':
        parsed.prefix = optionValue(index, argument);
        index += 1;
        break;
      case '--timeout':
        parsed.timeoutMs = parseDuration(optionValue(index, argument), '--timeout');
        index += 1;
        break;
      case '--reason':
        parsed.reason = optionValue(index, argument);
        index += 1;
        break;
      case '--duration':
        parsed.durationMs = parseDuration(optionValue(index, argument), '--duration');
        index += 1;
        break;
      case '--json':
        parsed.json = true;
        break;
      case '--create':
        parsed.create = true;
        break;
      case '-h':
      case '--help':
        parsed.help = true;
        break;
      default:
        if (argument.startsWith('-')) throw new CliError(EXIT_CODES.usage, `unknown option ${argument}`);
        if (parsed.command === undefined) parsed.command = argument;
        else parsed.positionals.push(argument);
    }
  }
  return parsed;
}

/** `host:port` of a Redis URL, without credentials, for messages. */
function endpointOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return 'the given URL';
  }
}

async function connect(parsed: Parsed): Promise<RedisConnectionManager> {
  let manager: RedisConnectionManager;
  try {
    manager = new RedisConnectionManager({
      url: parsed.url,
      connectionTimeoutMs: parsed.timeoutMs,
      operationTimeoutMs: parsed.timeoutMs,
      healthCheckIntervalMs: 3_600_000,
      connectionName: 'xnai-cb-cli',
    });
  } catch (error) {
    throw new CliError(EXIT_CODES.usage, `invalid Redis URL: ${(error as Error).message}`);
  }
  const endpoint = endpointOf(parsed.url);
  // A CLI answers at once: the first connection error ends the wait, rather than the manager's
  // three attempts (at 0, 1 and 2 s) that a long-running service wants.
  let timer: ReturnType<typeof setTimeout> | undefined;
  let errors: globalThis.Disposable | undefined;
  const failure = await new Promise<RedisManagerError | 'timeout' | null>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), parsed.timeoutMs + 1_000);
    errors = manager.onError(({ error }) => resolve(error));
    manager.connect().then(
      (connected) => resolve(connected ? null : 'timeout'),
      (error: RedisManagerError) => resolve(error),
    );
  });
  clearTimeout(timer);
  errors?.[Symbol.dispose]();
  if (failure === null) return manager;
  await manager.disconnect();
  if (failure === 'timeout') {
    throw new CliError(
      EXIT_CODES.redis,
      `cannot reach Redis at ${endpoint}: no answer within ${parsed.timeoutMs} ms`,
    );
  }
  switch (failure.code) {
    case 'ERR_REDIS_AUTHENTICATION':
      throw new CliError(
        EXIT_CODES.redis,
        `Redis at ${endpoint} refused the credentials: check the password (and user) in the URL or REDIS_URL`,
      );
    case 'ERR_REDIS_TLS':
      throw new CliError(EXIT_CODES.redis, `TLS with Redis at ${endpoint} failed: ${failure.message}`);
    default:
      throw new CliError(EXIT_CODES.redis, `cannot reach Redis at ${endpoint}: ${failure.message}`);
  }
}

function circuitName(parsed: Parsed): string {
  const name = parsed.positionals[0];
  if (name === undefined) throw new CliError(EXIT_CODES.usage, `${parsed.command} needs a circuit name`);
  try {
    return validateCircuitName(name);
  } catch (error) {
    if (InvalidCircuitNameError.isInstance(error)) throw new CliError(EXIT_CODES.usage, error.message);
    throw error;
  }
}

async function existing(store: RedisStateStore, name: string, prefix: string): Promise<CircuitStateData> {
  const data = await store.getState(name);
  if (data === undefined) {
    throw new CliError(
      EXIT_CODES.unknownCircuit,
      `unknown circuit "${name}": no state at ${prefix}${name} (run "xnai-cb list" to see the circuits)`,
    );
  }
  return data;
}

function iso(epochMs: number): string {
  return epochMs > 0 ? new Date(epochMs).toISOString() : '-';
}

function summary(name: string, data: CircuitStateData, now: number) {
  return {
    name,
    status: effectiveStatus(data, now),
    state: data.state,
    failureCount: data.failureCount,
    successCount: data.successCount,
    openUntil: data.state === 'open' ? data.openUntil : null,
    override: data.override,
  };
}

function table(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? '').length)),
  );
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] as number))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function describeOverride(data: CircuitStateData): string {
  const override = data.override;
  if (override === null) return '-';
  const parts: string[] = [override.mode];
  if (override.reason !== null) parts.push(`"${override.reason}"`);
  if (override.expiresAt !== null) parts.push(`until ${iso(override.expiresAt)}`);
  return parts.join(' ');
}

function describeChange(change: CircuitStateChange): Record<string, unknown> {
  if (change.state === null) return { name: change.name, deleted: true, version: change.version };
  return {
    name: change.name,
    from: change.transition?.from ?? null,
    to: change.transition?.to ?? change.state.state,
    reason: change.transition?.reason ?? null,
    at: change.transition?.at ?? null,
    failureCount: change.state.failureCount,
    openUntil: change.state.state === 'open' ? change.state.openUntil : null,
  };
}

/**
 * Runs `xnai-cb` with `argv` (without `node` and the script) and resolves with its exit code.
 * Never throws for what a user can get wrong: it prints one line to `stderr` and returns a code.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseArguments(argv, io.env);
    if (parsed.help || parsed.command === undefined) {
      (parsed.help ? io.stdout : io.stderr)(`${USAGE}\n`);
      return parsed.help ? EXIT_CODES.ok : EXIT_CODES.usage;
    }
    if (!COMMANDS.has(parsed.command)) {
      throw new CliError(EXIT_CODES.usage, `unknown command "${parsed.command}" (see xnai-cb --help)`);
    }
  } catch (error) {
    return report(error, io);
  }
  let manager: RedisConnectionManager | undefined;
  let store: RedisStateStore | undefined;
  try {
    manager = await connect(parsed);
    store = new RedisStateStore({ redis: manager, keyPrefix: parsed.prefix });
    await execute(parsed, store, io);
    return EXIT_CODES.ok;
  } catch (error) {
    return report(error, io);
  } finally {
    await store?.close();
    await manager?.disconnect();
  }
}

const COMMANDS = new Set(['list', 'show', 'force-open', 'force-closed', 'clear', 'reset', 'delete', 'watch']);

function report(error: unknown, io: CliIo): number {
  if (error instanceof CliError) {
    io.stderr(`xnai-cb: ${error.message}\n`);
    return error.exitCode;
  }
  io.stderr(`xnai-cb: ${error instanceof Error ? error.message : String(error)}\n`);
  return EXIT_CODES.redis;
}

async function execute(parsed: Parsed, store: RedisStateStore, io: CliIo): Promise<void> {
  const out = (value: unknown, text: string) => io.stdout(`${parsed.json ? JSON.stringify(value) : text}\n`);
  const now = () => store.clock.now();
  switch (parsed.command) {
    case 'list': {
      const states = await store.getAllStates();
      const names = [...states.keys()].sort();
      const summaries = names.map((name) => summary(name, states.get(name) as CircuitStateData, now()));
      if (parsed.json) {
        out(summaries, '');
        return;
      }
      if (summaries.length === 0) {
        io.stdout(`no circuits under ${parsed.prefix}\n`);
        return;
      }
      const rows = [['NAME', 'STATUS', 'STATE', 'FAILURES', 'SUCCESSES', 'OPEN UNTIL', 'OVERRIDE']];
      for (const name of names) {
        const data = states.get(name) as CircuitStateData;
        const row = summary(name, data, now());
        rows.push([
          name,
          row.status,
          row.state,
          String(row.failureCount),
          String(row.successCount),
          row.openUntil === null ? '-' : iso(row.openUntil),
          describeOverride(data),
        ]);
      }
      io.stdout(`${table(rows)}\n`);
      return;
    }
    case 'show': {
      const name = circuitName(parsed);
      const data = await existing(store, name, parsed.prefix);
      const status = effectiveStatus(data, now());
      const lines = [
        ['name', name],
        ['status', status],
        ['state', data.state],
        ['failureCount', String(data.failureCount)],
        ['successCount', String(data.successCount)],
        ['consecutiveOpens', String(data.consecutiveOpens)],
        ['openUntil', data.state === 'open' ? iso(data.openUntil) : '-'],
        ['override', describeOverride(data)],
        ['lastFailureTime', iso(data.lastFailureTime)],
        ['lastSuccessTime', iso(data.lastSuccessTime)],
        ['lastStateChange', iso(data.lastStateChange)],
        ['probes', String(data.probes.length)],
        ['version', String(data.version)],
      ];
      out({ name, status, ...data }, table(lines));
      return;
    }
    case 'force-open':
    case 'force-closed': {
      const name = circuitName(parsed);
      if (!parsed.create) await existing(store, name, parsed.prefix);
      const mode: OverrideMode = parsed.command === 'force-open' ? 'forced_open' : 'forced_closed';
      const data = await store.override(
        name,
        { mode, reason: parsed.reason ?? null, durationMs: parsed.durationMs ?? null },
        DEFAULT_POLICY,
      );
      out(summary(name, data, now()), `${name}: ${describeOverride(data)}`);
      return;
    }
    case 'clear': {
      const name = circuitName(parsed);
      await existing(store, name, parsed.prefix);
      const data = await store.override(name, null, DEFAULT_POLICY);
      out(summary(name, data, now()), `${name}: override cleared, ${effectiveStatus(data, now())}`);
      return;
    }
    case 'reset': {
      const name = circuitName(parsed);
      await existing(store, name, parsed.prefix);
      const data = await store.reset(name, DEFAULT_POLICY);
      out(summary(name, data, now()), `${name}: reset, ${effectiveStatus(data, now())}`);
      return;
    }
    case 'delete': {
      const name = circuitName(parsed);
      await existing(store, name, parsed.prefix);
      await store.deleteState(name);
      out({ name, deleted: true }, `${name}: deleted`);
      return;
    }
    case 'watch': {
      const only = parsed.positionals[0] === undefined ? undefined : circuitName(parsed);
      const subscription = store.subscribe((change) => {
        if (only !== undefined && change.name !== only) return;
        const described = describeChange(change);
        if (parsed.json) {
          io.stdout(`${JSON.stringify(described)}\n`);
          return;
        }
        const at = iso((described.at as number | null) ?? Date.now());
        io.stdout(
          change.state === null
            ? `${at}  ${change.name}  deleted\n`
            : `${at}  ${change.name}  ${described.from ?? '?'} -> ${described.to} (${described.reason ?? 'changed'})\n`,
        );
      });
      await store.whenSubscribed();
      io.stderr(
        `watching ${only === undefined ? 'every circuit' : `"${only}"`} under ${parsed.prefix} (Ctrl-C to stop)\n`,
      );
      await (io.interrupted ?? new Promise<void>(() => undefined));
      subscription.dispose();
      return;
    }
    default:
      throw new CliError(EXIT_CODES.usage, `unknown command "${parsed.command}"`);
  }
}

import { hostname } from 'node:os';
import { ENVIRONMENT_PRESETS, type EnvironmentName } from '@xnai/cb-registry';

/** What the app is configured with; everything comes from the environment (see {@link readConfig}). */
export interface AppConfig {
  /** `null`: memory only — no Redis, no connection attempt, no fleet. */
  readonly redisUrl: string | null;
  /** `0` picks a free port (tests). */
  readonly port: number;
  /** Address the HTTP server binds. */
  readonly host: string;
  /** The seed's environment preset: connection tuning when Redis is used. */
  readonly environment: EnvironmentName;
  readonly instanceId: string;
  /** Bearer token of every action (admin router, simulation, load, outage switch). */
  readonly adminToken: string;
  /** `true` when no ADMIN_TOKEN was given and one was generated at start. */
  readonly adminTokenGenerated: boolean;
}

/** A bad environment variable, named with the value it had. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The environment variables the app reads (see {@link readConfig}). */
export const ENVIRONMENT_VARIABLES = [
  'REDIS_URL',
  'PORT',
  'HOST',
  'ENVIRONMENT',
  'INSTANCE_ID',
  'ADMIN_TOKEN',
] as const;

const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function text(env: NodeJS.ProcessEnv, key: string): string | undefined {
  const value = env[key]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Reads the app's configuration from the environment:
 * - `REDIS_URL` — `redis://` or `rediss://`; without it the app runs on the memory store only;
 * - `PORT` — default `3000`; `HOST` — default `0.0.0.0`;
 * - `ENVIRONMENT` — `development` (default), `staging` or `production`: the seed's preset;
 * - `INSTANCE_ID` — default `<hostname>-<pid>`;
 * - `ADMIN_TOKEN` — at least 8 characters; generated at start when missing.
 * @throws {ConfigError} a variable is malformed; the message names it.
 */
export function readConfig(env: NodeJS.ProcessEnv, generateToken: () => string): AppConfig {
  const redisUrl = text(env, 'REDIS_URL') ?? null;
  if (redisUrl !== null) {
    let parsed: URL;
    try {
      parsed = new URL(redisUrl);
    } catch {
      throw new ConfigError('REDIS_URL must be a URL such as redis://localhost:6379');
    }
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
      throw new ConfigError(`REDIS_URL must start with redis:// or rediss://, got ${parsed.protocol}//`);
    }
  }
  const portText = text(env, 'PORT') ?? '3000';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65_535) {
    throw new ConfigError(`PORT must be a TCP port (0-65535), got ${JSON.stringify(portText)}`);
  }
  const environment = text(env, 'ENVIRONMENT') ?? 'development';
  if (!Object.hasOwn(ENVIRONMENT_PRESETS, environment)) {
    throw new ConfigError(
      `ENVIRONMENT must be one of ${Object.keys(ENVIRONMENT_PRESETS).join(', ')}, got ${JSON.stringify(environment)}`,
    );
  }
  const instanceId = text(env, 'INSTANCE_ID') ?? `${hostname()}-${process.pid}`.slice(0, 63);
  if (!INSTANCE_ID.test(instanceId)) {
    throw new ConfigError(
      `INSTANCE_ID must be 1-63 letters, digits, '.', '_' or '-', got ${JSON.stringify(instanceId)}`,
    );
  }
  const givenToken = text(env, 'ADMIN_TOKEN');
  if (givenToken !== undefined && givenToken.length < 8) {
    throw new ConfigError('ADMIN_TOKEN must be at least 8 characters');
  }
  return {
    redisUrl,
    port,
    host: text(env, 'HOST') ?? '0.0.0.0',
    environment: environment as EnvironmentName,
    instanceId,
    adminToken: givenToken ?? generateToken(),
    adminTokenGenerated: givenToken === undefined,
  };
}

/** `redis://user:secret@host:6379/0` → `redis://host:6379/0`: what may be shown and logged. */
export function redactRedisUrl(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}

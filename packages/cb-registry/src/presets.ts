import type { RedisConnectionOptions } from '@xnai/cb-redis-connection';

/** Connection settings of one preset; spread it into `createCircuitBreakerRegistry()` and override. */
export type RedisPreset = Readonly<
  Pick<
    RedisConnectionOptions,
    | 'url'
    | 'host'
    | 'port'
    | 'db'
    | 'password'
    | 'maxConnections'
    | 'healthCheckIntervalMs'
    | 'adaptiveTimeout'
    | 'connectionTimeoutMs'
    | 'socketTimeoutMs'
  >
>;

/** Names of {@link ENVIRONMENT_PRESETS}. */
export type EnvironmentName = 'development' | 'staging' | 'production';

/**
 * The seed's `REDIS_CONFIG` per environment, in milliseconds. Plain frozen data: the seed's
 * environment lookups (`REDIS_HOST`, `REDIS_PASSWORD`, `REDIS_URL`) are applied by
 * {@link resolveEnvironmentPreset}, not here.
 */
export const ENVIRONMENT_PRESETS: Readonly<Record<EnvironmentName, RedisPreset>> = Object.freeze({
  development: Object.freeze({
    host: 'localhost',
    port: 6379,
    db: 0,
    maxConnections: 10,
    healthCheckIntervalMs: 60_000,
    adaptiveTimeout: true,
  }),
  staging: Object.freeze({
    host: 'redis-staging',
    port: 6379,
    db: 0,
    maxConnections: 50,
    healthCheckIntervalMs: 30_000,
    adaptiveTimeout: true,
  }),
  production: Object.freeze({
    maxConnections: 100,
    healthCheckIntervalMs: 10_000,
    // The seed: static timeouts in production.
    adaptiveTimeout: false,
  }),
});

/** Names of {@link RESOURCE_PRESETS}. */
export type ResourceProfile = 'lowResource' | 'standard' | 'highPerformance';

/**
 * The seed's tuning per machine size (`LOW_RESOURCE_CONFIG`, `STANDARD_CONFIG`,
 * `HIGH_PERF_CONFIG`), in milliseconds.
 */
export const RESOURCE_PRESETS: Readonly<Record<ResourceProfile, RedisPreset>> = Object.freeze({
  /** 6 GB RAM shared with other services. */
  lowResource: Object.freeze({
    maxConnections: 20,
    healthCheckIntervalMs: 60_000,
    connectionTimeoutMs: 10_000,
    socketTimeoutMs: 15_000,
    adaptiveTimeout: true,
  }),
  /** 16 GB+ RAM, dedicated service. */
  standard: Object.freeze({
    maxConnections: 50,
    healthCheckIntervalMs: 30_000,
    connectionTimeoutMs: 5_000,
    socketTimeoutMs: 10_000,
    adaptiveTimeout: false,
  }),
  /** 32 GB+, Kubernetes. */
  highPerformance: Object.freeze({
    maxConnections: 200,
    healthCheckIntervalMs: 10_000,
    connectionTimeoutMs: 2_000,
    socketTimeoutMs: 5_000,
    adaptiveTimeout: false,
  }),
});

/**
 * An environment preset with the seed's environment variables applied: `REDIS_HOST` and
 * `REDIS_PASSWORD` for staging, `REDIS_URL` for production. Unset variables are left out.
 * @throws {RangeError} `environment` is not a preset name.
 * @example
 * ```ts
 * const registry = await createCircuitBreakerRegistry(resolveEnvironmentPreset(process.env.ENVIRONMENT ?? 'development'));
 * ```
 */
export function resolveEnvironmentPreset(
  environment: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): RedisPreset {
  if (!Object.hasOwn(ENVIRONMENT_PRESETS, environment)) {
    throw new RangeError(
      `environment must be one of development, staging, production, got ${JSON.stringify(environment)}`,
    );
  }
  const preset = ENVIRONMENT_PRESETS[environment as EnvironmentName];
  const fromEnv = (key: string): string | undefined => {
    const value = env[key];
    return value === undefined || value === '' ? undefined : value;
  };
  switch (environment as EnvironmentName) {
    case 'development':
      return { ...preset };
    case 'staging': {
      const host = fromEnv('REDIS_HOST');
      const password = fromEnv('REDIS_PASSWORD');
      return {
        ...preset,
        ...(host === undefined ? {} : { host }),
        ...(password === undefined ? {} : { password }),
      };
    }
    case 'production': {
      const url = fromEnv('REDIS_URL');
      return { ...preset, ...(url === undefined ? {} : { url }) };
    }
  }
}

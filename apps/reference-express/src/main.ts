import { randomBytes } from 'node:crypto';
import { startReferenceApp } from './app.js';
import { ConfigError, readConfig, redactRedisUrl } from './config.js';

let config: ReturnType<typeof readConfig>;
try {
  config = readConfig(process.env, () => randomBytes(12).toString('base64url'));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`reference-express: ${error.message}`);
  process.exit(2);
}

const prefix = `[reference-express ${config.instanceId}]`;
const app = await startReferenceApp(config);
const dashboard = config.adminTokenGenerated ? `${app.url}/#token=${config.adminToken}` : `${app.url}/`;
console.info(
  config.redisUrl === null
    ? `${prefix} memory only (no REDIS_URL): circuit state lives in this process, no Redis connection is made; set REDIS_URL to share it with a fleet`
    : `${prefix} Redis at ${redactRedisUrl(config.redisUrl)} (ENVIRONMENT=${config.environment}), store mode ${app.registry.stateManager.redisAvailable ? 'redis' : 'fallback (in-memory mirror)'}`,
);
console.info(
  `${prefix} admin token ${config.adminTokenGenerated ? 'generated for this run (set ADMIN_TOKEN to choose one)' : 'from ADMIN_TOKEN'}`,
);
console.info(`${prefix} dashboard: ${dashboard}`);
console.info(`${prefix} listening on ${config.host}:${app.port}`);

let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  console.info(`${prefix} ${signal}: shutting down (registry cleanup)`);
  // A second signal while shutting down forces the exit.
  process.once(signal, () => process.exit(1));
  app.close().then(
    () => {
      console.info(`${prefix} shutdown complete`);
      process.exitCode = 0;
    },
    (error: unknown) => {
      console.error(`${prefix} shutdown failed: ${(error as Error).message}`);
      process.exitCode = 1;
    },
  );
};
process.once('SIGTERM', () => stop('SIGTERM'));
process.once('SIGINT', () => stop('SIGINT'));

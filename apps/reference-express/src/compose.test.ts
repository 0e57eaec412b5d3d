import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError, ENVIRONMENT_VARIABLES, readConfig } from './config.js';

// Docker cannot run here, so docker-compose.yml is checked against the Compose Specification's
// JSON schema and for what it refers to. The schema is vendored from compose-spec/compose-spec
// (schema/compose-spec.json at 170098ba07d9f53c383a41bfd4c5166b0a4529a6, Apache-2.0). The same
// topology runs with local processes in fleet.process.test.ts.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
// Draft-07, Ajv's default; it names the draft by an https URL Ajv does not know, so that is left out.
const { $schema: _draft, ...schema } = JSON.parse(
  readFileSync(fileURLToPath(new URL('./__tests__/compose-spec.json', import.meta.url)), 'utf8'),
) as Record<string, unknown>;
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

interface Service {
  readonly image?: string;
  readonly build?: { readonly context: string; readonly dockerfile: string };
  readonly command?: readonly string[];
  readonly environment?: Readonly<Record<string, string>>;
  readonly ports?: readonly string[];
  readonly depends_on?: Readonly<Record<string, { readonly condition: string }>>;
  readonly healthcheck?: { readonly test: readonly string[] };
}

/** `${NAME:-default}` and `${NAME}` as Compose interpolates them, with an empty environment. */
function interpolate(text: string): string {
  return text.replace(
    /\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}/g,
    (_, _name: string, fallback?: string) => fallback ?? '',
  );
}

function load(): { file: Record<string, unknown>; services: Record<string, Service> } {
  const file = parse(interpolate(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')), {
    merge: true,
  }) as Record<string, unknown>;
  return { file, services: file.services as Record<string, Service> };
}

const APPS = ['app-1', 'app-2'];

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification schema', () => {
    const { file } = load();
    const valid = validate(file);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('the schema check can fail: a misspelt key is caught', () => {
    const { file, services } = load();
    const broken = { ...file, services: { ...services, redis: { ...services.redis, healthchek: {} } } };
    expect(validate(broken)).toBe(false);
  });

  it('is Redis and two replicas of the app sharing it, on ports 3001 and 3002', () => {
    const { services } = load();
    expect(Object.keys(services).sort()).toEqual(['app-1', 'app-2', 'redis']);
    expect(services.redis?.image).toMatch(/^redis:7/);
    expect(services.redis?.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
    const published = APPS.map((name) => services[name]?.ports);
    expect(published).toEqual([['3001:3000'], ['3002:3000']]);
    const ids = new Set<string>();
    for (const name of APPS) {
      const service = services[name];
      const environment = service?.environment ?? {};
      // Every variable is one the app reads, and together they are a valid configuration.
      for (const key of Object.keys(environment)) expect(ENVIRONMENT_VARIABLES).toContain(key);
      const config = readConfig(environment, () => {
        throw new ConfigError('a token must be given, not generated');
      });
      ids.add(config.instanceId);
      // The Redis it uses is the redis service, which it waits for.
      const redisUrl = new URL(config.redisUrl ?? '');
      expect(Object.keys(services)).toContain(redisUrl.hostname);
      expect(redisUrl.port === '' ? '6379' : redisUrl.port).toBe('6379');
      expect(service?.depends_on).toEqual({ [redisUrl.hostname]: { condition: 'service_healthy' } });
      // The container port published is the one the app listens on, and the health check asks it.
      const [, containerPort] = (service?.ports?.[0] ?? '').split(':');
      expect(String(config.port)).toBe(containerPort);
      expect(service?.healthcheck?.test.join(' ')).toContain(`http://127.0.0.1:${config.port}/readyz`);
    }
    expect(ids.size).toBe(APPS.length);
  });

  it('builds from files that exist, running what the app build produces', () => {
    const { services } = load();
    for (const name of APPS) {
      const build = services[name]?.build;
      expect(build).toBeDefined();
      const context = join(ROOT, build?.context ?? '');
      const dockerfile = join(context, build?.dockerfile ?? '');
      expect(existsSync(dockerfile)).toBe(true);
      // BuildKit reads <Dockerfile>.dockerignore beside it: the working tree's node_modules stay out.
      expect(readFileSync(`${dockerfile}.dockerignore`, 'utf8')).toMatch(/^\*\*\/node_modules$/m);
      const text = readFileSync(dockerfile, 'utf8');
      const from = /^FROM node:(\d+)/m.exec(text);
      expect(Number(from?.[1])).toBeGreaterThanOrEqual(22);
      const rootPackage = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
        packageManager: string;
      };
      expect(text).toContain(rootPackage.packageManager);
      expect(text).toContain('pnpm install --frozen-lockfile');
      const cmd = /^CMD \["node", "([^"]+)"\]/m.exec(text)?.[1] ?? '';
      expect(cmd).toBe('apps/reference-express/dist/main.js');
      // The file the image runs is the app build's output (turbo builds it before the tests).
      expect(existsSync(join(context, cmd))).toBe(true);
      expect(text).toMatch(/turbo run build --filter=@xnai\/reference-express\.\.\./);
    }
  });
});

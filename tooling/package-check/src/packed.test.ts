import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The packages as a user gets them: `pnpm pack` (which turns `workspace:` ranges into versions),
 * `npm install` of the tarballs into an empty project, then `import`, `require` and `tsc` there.
 */
const run = promisify(execFile);
/** The install's own limit, below the hook's (vitest.config.ts). */
const INSTALL_LIMIT_MS = 270_000;
const root = resolve(import.meta.dirname, '../../..');
const workspaceBin = join(root, 'node_modules/.bin');

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  repository?: { url?: string; directory?: string };
  homepage?: string;
  bugs?: { url?: string };
  files?: string[];
  engines?: { node?: string };
  dependencies?: Record<string, string>;
}

const published = readdirSync(join(root, 'packages'))
  .map((directory) => ({
    directory: join(root, 'packages', directory),
    manifest: JSON.parse(readFileSync(join(root, 'packages', directory, 'package.json'), 'utf8')) as Manifest,
  }))
  .filter((entry) => entry.manifest.private !== true);

/** One export of each package that a user reaches for first. */
const ENTRY_POINTS: Record<string, string[]> = {
  '@xnai/cb-core': [
    'createCircuitBreaker',
    'CircuitBreaker',
    'CircuitOpenError',
    'transition',
    'reduceOutcomes',
  ],
  '@xnai/cb-store-memory': ['createMemoryStateStore', 'MemoryStateStore'],
  '@xnai/cb-store-redis': ['createRedisStateStore', 'RedisStateStore'],
  '@xnai/cb-redis-connection': ['RedisConnectionManager'],
  '@xnai/cb-registry': ['createCircuitBreakerRegistry', 'CircuitBreakerRegistry', 'ENVIRONMENT_PRESETS'],
  '@xnai/cb-prometheus': ['createPrometheusMetrics', 'PrometheusMetrics', 'METRIC_NAMES'],
  '@xnai/cb-opentelemetry': ['createOpenTelemetryMetrics', 'OpenTelemetryMetrics', 'INSTRUMENT_NAMES'],
  '@xnai/cb-express': [
    'circuitBreakerErrorHandler',
    'withCircuitBreaker',
    'createCircuitBreakerRouter',
    'createHealthRouter',
  ],
  '@xnai/cb-fetch': ['createCircuitBreakerFetch'],
  '@xnai/cb-cli': ['runCli', 'EXIT_CODES'],
};

let work: string;
let consumer: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'xnai-packed-'));
  const packs = join(work, 'packs');
  for (const { directory } of published) {
    await run('pnpm', ['pack', '--pack-destination', packs], { cwd: directory });
  }
  consumer = join(work, 'consumer');
  await run('mkdir', ['-p', consumer]);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  const tarballs = readdirSync(packs).map((file) => join(packs, file));
  // ioredis is the peer of three packages, prom-client, @opentelemetry/api and express of one each;
  // npm installs peers itself, named here to pin the majors. The third-party packages come from the
  // registry: a request the registry leaves hanging is given up after 30 s and asked again (npm's
  // default waits 5 minutes, longer than this hook), and npm is killed if the whole install overruns,
  // so that no install outlives the test.
  const started = performance.now();
  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--fetch-timeout=30000',
      '--fetch-retries=4',
      '--fetch-retry-mintimeout=2000',
      '--fetch-retry-maxtimeout=10000',
      ...tarballs,
      'ioredis@6',
      'prom-client@15',
      '@opentelemetry/api@1',
      'express@5',
    ],
    { cwd: consumer, timeout: INSTALL_LIMIT_MS, killSignal: 'SIGKILL' },
  );
  console.log(`[figures] npm install of the packed packages: ${Math.round(performance.now() - started)} ms`);
});

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

function node(args: string[]): Promise<{ stdout: string }> {
  return run(process.execPath, args, { cwd: consumer });
}

describe('the packed packages', () => {
  it('ship their LICENSE, README and the metadata a registry shows', () => {
    expect(published.map((entry) => entry.manifest.name).sort()).toEqual(Object.keys(ENTRY_POINTS).sort());
    for (const { manifest } of published) {
      const installed = join(consumer, 'node_modules', manifest.name);
      const files = readdirSync(installed);
      expect(files, manifest.name).toEqual(
        expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist']),
      );
      expect(readFileSync(join(installed, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
      const shipped = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as Manifest;
      expect(shipped.license).toBe('MIT');
      expect(shipped.repository?.url).toMatch(/^git\+https:\/\//);
      expect(shipped.repository?.directory).toBe(`packages/${manifest.name.replace('@xnai/', '')}`);
      expect(shipped.homepage).toMatch(/^https:\/\//);
      expect(shipped.bugs?.url).toMatch(/^https:\/\//);
      expect(shipped.engines?.node).toBe('>=22');
      // workspace: ranges were turned into versions a registry can resolve.
      for (const range of Object.values(shipped.dependencies ?? {})) expect(range).not.toMatch(/workspace:/);
    }
    // The core has no runtime dependencies at all.
    expect(
      published.find((entry) => entry.manifest.name === '@xnai/cb-core')?.manifest.dependencies,
    ).toBeUndefined();
  });

  it('mention the private kit nowhere: it is bundled, not a dependency, in code, types and maps alike', () => {
    const mentions: string[] = [];
    const visit = (directory: string): void => {
      for (const entry of readdirSync(directory, { withFileTypes: true })) {
        const path = join(directory, entry.name);
        if (entry.isDirectory()) visit(path);
        else if (readFileSync(path, 'utf8').includes('@xnai/kit'))
          mentions.push(path.slice(consumer.length + 1));
      }
    };
    for (const { manifest } of published) visit(join(consumer, 'node_modules', manifest.name));
    expect(mentions).toEqual([]);
  });

  it('import from ESM, and a breaker runs on the memory store', async () => {
    const script = `
      const names = ${JSON.stringify(ENTRY_POINTS)};
      const missing = [];
      for (const [name, exports] of Object.entries(names)) {
        const module = await import(name);
        for (const key of exports) if (module[key] === undefined) missing.push(name + '.' + key);
      }
      const { createCircuitBreaker, CircuitOpenError } = await import('@xnai/cb-core');
      const { createMemoryStateStore } = await import('@xnai/cb-store-memory');
      const breaker = createCircuitBreaker({ name: 'esm', store: createMemoryStateStore(), failureThreshold: 1 });
      await breaker.execute(() => { throw new Error('down'); }).catch(() => undefined);
      const rejected = await breaker.execute(() => 'never').catch((error) => error instanceof CircuitOpenError);
      console.log(JSON.stringify({ missing, rejected, status: breaker.status }));
    `;
    const { stdout } = await node(['--input-type=module', '-e', script]);
    expect(JSON.parse(stdout)).toEqual({ missing: [], rejected: true, status: 'open' });
  });

  it('require from CommonJS, and a breaker runs on the memory store', async () => {
    const script = `
      const names = ${JSON.stringify(ENTRY_POINTS)};
      const missing = [];
      for (const [name, exports] of Object.entries(names)) {
        const module = require(name);
        for (const key of exports) if (module[key] === undefined) missing.push(name + '.' + key);
      }
      const { createCircuitBreaker, CircuitOpenError } = require('@xnai/cb-core');
      const { createMemoryStateStore } = require('@xnai/cb-store-memory');
      const breaker = createCircuitBreaker({ name: 'cjs', store: createMemoryStateStore(), failureThreshold: 1 });
      breaker.execute(() => { throw new Error('down'); }).catch(() => undefined)
        .then(() => breaker.execute(() => 'never'))
        .catch((error) => error instanceof CircuitOpenError)
        .then((rejected) => console.log(JSON.stringify({ missing, rejected, status: breaker.status })));
    `;
    const { stdout } = await node(['--input-type=commonjs', '-e', script]);
    expect(JSON.parse(stdout)).toEqual({ missing: [], rejected: true, status: 'open' });
  });

  const typeCheck = async (file: string, source: string, compilerOptions: Record<string, unknown>) => {
    writeFileSync(join(consumer, file), source);
    const config = `tsconfig.${file}.json`;
    writeFileSync(
      join(consumer, config),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          noEmit: true,
          skipLibCheck: false,
          ...compilerOptions,
        },
        files: [file],
      }),
    );
    return run(join(workspaceBin, 'tsc'), ['-p', config], { cwd: consumer }).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
  };

  const everyPackage = `
    import { createCircuitBreaker, type CircuitStateData } from '@xnai/cb-core';
    import { createMemoryStateStore } from '@xnai/cb-store-memory';
    import { createRedisStateStore } from '@xnai/cb-store-redis';
    import { RedisConnectionManager } from '@xnai/cb-redis-connection';
    import { createCircuitBreakerRegistry } from '@xnai/cb-registry';
    const local = createCircuitBreaker({ name: 'typed', store: createMemoryStateStore() });
    export const stock: Promise<number> = local.execute(async (signal) => (signal.aborted ? 0 : 1));
    export const view: CircuitStateData = local.stateData;
    export const manager = new RedisConnectionManager({ url: 'redis://localhost:6379' });
    export const shared = createRedisStateStore({ redis: manager });
    export const registry = createCircuitBreakerRegistry({ url: 'redis://localhost:6379' });
  `;

  it('type-check in a strict project with @types/node, from ESM and from CommonJS', async () => {
    const typeRoots = [join(root, 'node_modules/@types')];
    expect(await typeCheck('every.mts', everyPackage, { types: ['node'], typeRoots })).toBe('');
    expect(await typeCheck('every.cts', everyPackage, { types: ['node'], typeRoots })).toBe('');
  });

  it('type-check @xnai/cb-core without @types/node given the libs its README names, and not without them', async () => {
    const core = `
      import { createCircuitBreaker, type CircuitStateStore } from '@xnai/cb-core';
      declare const store: CircuitStateStore;
      const breaker = createCircuitBreaker({ name: 'browser', store });
      export const result: Promise<number> = breaker.execute(async (signal) => (signal.aborted ? 1 : 2));
    `;
    expect(
      await typeCheck('core.mts', core, { types: [], lib: ['es2022', 'esnext.disposable', 'dom'] }),
    ).toBe('');
    // The test guards the README's sentence: without those libs the declarations do not resolve.
    expect(await typeCheck('bare.mts', core, { types: [], lib: ['es2022'] })).toMatch(/AbortSignal/);
  });
});

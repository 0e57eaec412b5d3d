import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { CallTimeoutError } from '@xnai/cb-core';
import { circuitBreakerErrorHandler, createCircuitBreakerRouter, createHealthRouter } from '@xnai/cb-express';
import { type CircuitBreakerFetch, createCircuitBreakerFetch } from '@xnai/cb-fetch';
import { createPrometheusMetrics } from '@xnai/cb-prometheus';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import {
  type CircuitBreakerRegistry,
  createCircuitBreakerRegistry,
  ENVIRONMENT_PRESETS,
  type RegistryLogger,
} from '@xnai/cb-registry';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { collectDefaultMetrics, Registry as PrometheusRegistry } from 'prom-client';
import { CallStats } from './call-stats.js';
import { type CircuitView, circuitViewOf } from './circuit-view.js';
import {
  CACHE_CIRCUIT,
  CACHE_CONFIG,
  DATABASE_CIRCUIT,
  DATABASE_CONFIG,
  EXTERNAL_API_CONFIG,
} from './circuits.js';
import { type AppConfig, redactRedisUrl } from './config.js';
import { createControlRoutes } from './control-routes.js';
import { createDataRoutes } from './data-routes.js';
import { errorBody } from './error-body.js';
import {
  type CircuitFacts,
  Fleet,
  type FleetView,
  factsOf,
  type Heartbeat,
  type StoreMode,
} from './fleet.js';
import { LiveUpdates } from './live-updates.js';
import { LoadDriver } from './load-driver.js';
import { NO_OUTAGE_SWITCH, OutageSwitch } from './outage-switch.js';
import { PushDelay } from './push-delay.js';
import {
  DEPENDENCY_NAMES,
  type DependencyName,
  HEALTHY,
  SimulatedDependency,
  SimulatedFailureError,
} from './simulation.js';
import { Timeline } from './timeline.js';
import { EXTERNAL_API_ORIGIN, startSimulatedUpstream, upstreamFetch } from './upstream.js';

const require = createRequire(import.meta.url);
const APP_VERSION = (require('../package.json') as { version: string }).version;
const LIBRARY_VERSION = (require('@xnai/cb-registry/package.json') as { version: string }).version;
/** The dashboard: static files, no build step. */
const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url));
const SYMBOLS = ['XNAI', 'ACME', 'INIT', 'CORE', 'ZETA', 'NOVA'];

/** Where the app writes: `console` by default; tests pass their own. */
export interface AppLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** A running reference app. */
export interface ReferenceApp {
  /** `http://localhost:<port>`. */
  readonly url: string;
  readonly port: number;
  readonly registry: CircuitBreakerRegistry;
  /** Stops everything, gracefully: load, streams, the server, the registry (`cleanup()`), Redis. Idempotent. */
  close(): Promise<void>;
}

const consoleLogger: AppLogger = {
  info: (message) => console.info(message),
  warn: (message) => console.warn(message),
  error: (message) => console.error(message),
};

function registryLogger(logger: AppLogger, prefix: string): RegistryLogger {
  const line = (message: string, details?: Record<string, unknown>) =>
    `${prefix} ${message}${details === undefined ? '' : ` ${JSON.stringify(details)}`}`;
  return {
    info: (message, details) => logger.info(line(message, details)),
    warn: (message, details) => logger.warn(line(message, details)),
    error: (message, details) => logger.error(line(message, details)),
  };
}

function randomInt(max: number): number {
  return 1 + Math.floor(Math.random() * max);
}

/**
 * Starts the reference app: the registry (memory only without `redisUrl`, else Redis through the
 * outage switch), the simulated dependencies, the routes, the dashboard and, with Redis, the fleet.
 */
export async function startReferenceApp(
  config: AppConfig,
  options: { readonly logger?: AppLogger } = {},
): Promise<ReferenceApp> {
  const logger = options.logger ?? consoleLogger;
  const prefix = `[reference-express ${config.instanceId}]`;
  const startedAt = Date.now();
  const cleanups: Array<() => Promise<void> | void> = [];
  const closeAll = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        logger.error(`${prefix} shutdown step failed: ${(error as Error).message}`);
      }
    }
  };

  try {
    // --- the registry -----------------------------------------------------------------------------
    const outage = config.redisUrl === null ? null : await OutageSwitch.start(config.redisUrl);
    if (outage !== null) cleanups.push(() => outage.close());
    const registry =
      config.redisUrl === null
        ? await createCircuitBreakerRegistry({ memoryOnly: true, logger: registryLogger(logger, prefix) })
        : await createCircuitBreakerRegistry({
            ...ENVIRONMENT_PRESETS[config.environment],
            url: outage?.url ?? config.redisUrl,
            connectionName: `xnai-reference:${config.instanceId}`,
            awaitConnectionMs: 3_000,
            logger: registryLogger(logger, prefix),
          });
    cleanups.push(() => registry.cleanup());
    registry.registerCircuitBreaker(DATABASE_CIRCUIT, DATABASE_CONFIG);
    registry.registerCircuitBreaker(CACHE_CIRCUIT, CACHE_CONFIG);

    // --- simulated dependencies -------------------------------------------------------------------
    const dependencies = Object.fromEntries(
      DEPENDENCY_NAMES.map((name) => [name, new SimulatedDependency(name, HEALTHY[name])]),
    ) as Record<DependencyName, SimulatedDependency>;
    const upstream = await startSimulatedUpstream(dependencies.externalApi);
    cleanups.push(() => upstream.close());
    const fetchWithBreaker: CircuitBreakerFetch = createCircuitBreakerFetch({
      breakers: registry,
      breaker: EXTERNAL_API_CONFIG,
      fetch: upstreamFetch(upstream.url),
    });

    // --- what the dashboard shows ------------------------------------------------------------------
    const stats = new CallStats();
    const pushDelay = new PushDelay();
    const statusSince = new Map<string, number>();
    const fallbackWrites = new Map<string, number>();
    let live: LiveUpdates | null = null;
    let fleet: Fleet | null = null;
    const changed = () => {
      live?.changed();
      fleet?.publishSoon();
    };
    const timeline = new Timeline({ onAdd: () => live?.changed() });
    const subscriptions = [
      registry.onCall((event) => stats.record(event)),
      registry.onEvent((event) => {
        if (event.type === 'state_change') statusSince.set(event.name, Date.now());
        if (event.type === 'fallback_write') {
          fallbackWrites.set(event.name, (fallbackWrites.get(event.name) ?? 0) + 1);
        }
        timeline.addRegistryEvent(event);
        changed();
      }),
      pushDelay.watch(registry, changed),
    ];
    cleanups.push(() => {
      for (const subscription of subscriptions) subscription.dispose();
    });

    const storeMode = (): StoreMode =>
      registry.memoryOnly ? 'memory_only' : registry.stateManager.redisAvailable ? 'redis' : 'fallback';
    const storeNow = () => registry.stateManager.clock.now();

    const circuitView = (name: string): CircuitView | null => {
      const breaker = registry.get(name);
      return breaker === undefined
        ? null
        : circuitViewOf(breaker, storeNow(), statusSince.get(name) ?? startedAt);
    };
    const circuitViews = () =>
      registry
        .list()
        .map(circuitView)
        .filter((view): view is CircuitView => view !== null);

    // Sends to this server's own routes, once it listens.
    let ownUrl = '';
    const load = new LoadDriver(
      () => ownUrl,
      [
        () => `/api/orders/${randomInt(500)}`,
        () => `/api/products/${randomInt(40)}`,
        () => `/api/quotes/${SYMBOLS[randomInt(SYMBOLS.length) - 1]}`,
      ],
      () => changed(),
    );
    const heartbeat = (): Heartbeat => {
      const circuits: Record<string, CircuitFacts> = {};
      const now = storeNow();
      for (const name of registry.list()) {
        const breaker = registry.get(name);
        if (breaker !== undefined)
          circuits[name] = { ...factsOf(breaker.stateData, now), status: breaker.status };
      }
      return {
        instanceId: config.instanceId,
        pid: process.pid,
        startedAt,
        sentAt: Date.now(),
        versions: { app: APP_VERSION, library: LIBRARY_VERSION, node: process.version },
        mode: storeMode(),
        outage: outage?.status.active ?? false,
        loadRunning: load.status.running,
        fallbackStatesCount: registry.stateManager.getFallbackStatus().fallbackStatesCount,
        pushDelay: pushDelay.summary(),
        circuits,
      };
    };

    if (config.redisUrl !== null) {
      const monitor = new RedisConnectionManager({
        url: config.redisUrl,
        connectionName: `xnai-reference:${config.instanceId}:monitor`,
      });
      const created = new Fleet({
        monitor,
        keyPrefix: registry.stateManager.redisStore?.keyPrefix ?? 'circuit_breaker:',
        instanceId: config.instanceId,
        heartbeat,
        circuitNames: () => registry.list(),
        onChange: () => live?.changed(),
      });
      cleanups.push(() => monitor.disconnect());
      cleanups.push(() => created.close());
      await created.start();
      fleet = created;
    }
    const fleetView = (): FleetView =>
      fleet?.view() ?? {
        available: false,
        monitorConnected: false,
        members: [],
        redis: {},
        redisReadAt: null,
        divergent: [],
      };

    const redisSummary = async () => {
      const manager = registry.redis;
      if (manager === null || config.redisUrl === null) return null;
      const health = await manager.getHealthStatus();
      return {
        url: redactRedisUrl(config.redisUrl),
        mode: health.mode,
        connected: health.connected,
        fallbackMode: health.fallbackMode,
        latencyP50Ms: health.latencyP50Ms,
        latencyP99Ms: health.latencyP99Ms,
        fallbackEntries: health.fallbackEntries,
        lastError: health.lastError?.message ?? null,
        subscriberConnected: health.subscriber.connected,
      };
    };

    const snapshot = async () => ({
      sentAt: Date.now(),
      now: storeNow(),
      instance: {
        id: config.instanceId,
        pid: process.pid,
        startedAt,
        environment: config.environment,
        versions: { app: APP_VERSION, library: LIBRARY_VERSION, node: process.version },
      },
      mode: storeMode(),
      redis: await redisSummary(),
      fallbackStatus: registry.stateManager.getFallbackStatus(),
      fallbackWrites: Object.fromEntries(fallbackWrites),
      outage: outage?.status ?? NO_OUTAGE_SWITCH,
      circuits: circuitViews(),
      fleet: fleetView(),
      pushDelay: pushDelay.summary(),
      timeline: timeline.entries().slice(-100),
      charts: stats.series(),
      dependencies: Object.fromEntries(
        DEPENDENCY_NAMES.map((name) => [
          name,
          { ...dependencies[name].behaviour, ...dependencies[name].stats },
        ]),
      ),
      load: load.status,
    });

    // --- routes -----------------------------------------------------------------------------------
    const tokenHash = createHash('sha256').update(config.adminToken).digest();
    const guard = (request: Request): boolean => {
      const match = /^Bearer (.+)$/.exec(request.get('authorization') ?? '');
      if (match === null) return false;
      return timingSafeEqual(
        createHash('sha256')
          .update(match[1] ?? '')
          .digest(),
        tokenHash,
      );
    };
    const guarded: RequestHandler = (request, response, next) => {
      if (guard(request)) next();
      else response.status(403).json(errorBody('FORBIDDEN', 'a valid admin token is required'));
    };

    const app = express();
    app.disable('x-powered-by');
    app.use(createHealthRouter(registry));
    app.get('/circuits', (_request, response) => {
      response.json({
        instanceId: config.instanceId,
        mode: storeMode(),
        now: storeNow(),
        circuits: circuitViews(),
      });
    });
    app.get('/fleet', (_request, response) => response.json(fleetView()));
    const prometheus = new PrometheusRegistry();
    collectDefaultMetrics({ register: prometheus });
    const metrics = createPrometheusMetrics({ register: prometheus });
    const metricsBinding = metrics.bindRegistry(registry);
    cleanups.push(() => {
      metricsBinding.dispose();
      metrics.close();
    });
    app.get('/metrics', (_request, response, next) => {
      prometheus.metrics().then((text) => response.type(prometheus.contentType).send(text), next);
    });

    app.use(createDataRoutes({ registry, dependencies, fetchWithBreaker }));
    app.get('/dashboard/snapshot', (_request, response, next) => {
      snapshot().then((body) => response.json(body), next);
    });
    const liveUpdates = new LiveUpdates(snapshot);
    live = liveUpdates;
    app.get('/dashboard/events', liveUpdates.handle);

    app.use('/admin/circuits', createCircuitBreakerRouter(registry, { guard }));
    app.use(
      createControlRoutes({
        guarded,
        dependencies,
        load,
        outage,
        memoryOnly: config.redisUrl === null,
        timeline,
        changed,
      }),
    );
    app.use(express.static(PUBLIC_DIR, { index: 'index.html', maxAge: 0 }));
    app.use((_request, response) => {
      response.status(404).json(errorBody('NOT_FOUND', 'no such route'));
    });
    app.use(circuitBreakerErrorHandler());
    app.use((error: unknown, request: Request, response: Response, next: NextFunction) => {
      // The client went away (its signal aborted the call): there is nobody to answer, nothing went wrong.
      if (response.destroyed || request.socket.destroyed) return;
      if (response.headersSent) {
        next(error);
        return;
      }
      if (error instanceof SimulatedFailureError) {
        response.status(502).json(errorBody('DEPENDENCY_FAILED', error.message));
      } else if (CallTimeoutError.isInstance(error)) {
        response.status(504).json(errorBody('DEPENDENCY_TIMEOUT', (error as Error).message));
      } else if (error instanceof TypeError && error.message === 'fetch failed') {
        response.status(502).json(errorBody('UPSTREAM_UNREACHABLE', 'the external API could not be reached'));
      } else if ((error as { type?: unknown }).type === 'entity.parse.failed') {
        response.status(400).json(errorBody('INVALID_BODY', 'the body is not valid JSON'));
      } else {
        logger.error(`${prefix} unexpected error: ${(error as Error)?.stack ?? String(error)}`);
        response.status(500).json(errorBody('INTERNAL', 'unexpected error'));
      }
    });

    // --- listen -----------------------------------------------------------------------------------
    const server: Server = createServer(app);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          // Idle keep-alive connections close at once; requests in flight get a few seconds.
          const force = setTimeout(() => server.closeAllConnections(), 5_000);
          force.unref();
          server.close(() => {
            clearTimeout(force);
            resolve();
          });
          server.closeIdleConnections();
        }),
    );
    // Before the server closes: open event streams would keep it waiting.
    cleanups.push(() => liveUpdates.close());
    const { port } = server.address() as AddressInfo;
    ownUrl = `http://127.0.0.1:${port}`;
    cleanups.push(() => {
      load.stop();
    });

    // cb-fetch registers an origin's breaker on its first request: make one, so that the external
    // API's circuit is registered (subscribed, on the dashboard and in the fleet view) from the start.
    await fetchWithBreaker(`${EXTERNAL_API_ORIGIN}/quotes/XNAI`).then(
      (response) => response.arrayBuffer(),
      () => undefined,
    );

    timeline.add(
      'start',
      registry.memoryOnly
        ? 'started on the memory store only (no REDIS_URL): state lives in this process'
        : `started with Redis at ${redactRedisUrl(config.redisUrl ?? '')}`,
      { mode: storeMode() },
    );
    let closing: Promise<void> | null = null;
    return {
      url: `http://localhost:${port}`,
      port,
      registry,
      close: () => {
        closing ??= closeAll();
        return closing;
      },
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

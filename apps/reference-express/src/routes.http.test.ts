import { type RedisServer, startRedis, waitFor } from '@xnai/test-utils';
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, TOKEN } from './__tests__/app-process.js';
import { type AppLogger, type ReferenceApp, startReferenceApp } from './app.js';
import type { CircuitView } from './circuit-view.js';
import { CACHE_CIRCUIT, DATABASE_CIRCUIT, EXTERNAL_API_CIRCUIT } from './circuits.js';
import type { AppConfig } from './config.js';
import type { FleetView } from './fleet.js';

interface Logged {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
}

function collectingLogger(into: Logged[]): AppLogger {
  return {
    info: (message) => into.push({ level: 'info', message }),
    warn: (message) => into.push({ level: 'warn', message }),
    error: (message) => into.push({ level: 'error', message }),
  };
}

function configOf(overrides: Partial<AppConfig>): AppConfig {
  return {
    redisUrl: null,
    port: 0,
    host: '127.0.0.1',
    environment: 'development',
    instanceId: 'http-test',
    adminToken: TOKEN,
    adminTokenGenerated: false,
    ...overrides,
  };
}

type CircuitsBody = { instanceId: string; mode: string; now: number; circuits: CircuitView[] };
type ErrorBody = { error: { code: string; message: string; circuit?: string; reason?: string } };

const circuitOf = async (base: string, name: string): Promise<CircuitView> => {
  const { body } = await api<CircuitsBody>(base, '/circuits');
  const circuit = body.circuits.find((entry) => entry.name === name);
  if (circuit === undefined) throw new Error(`no circuit ${name}`);
  return circuit;
};

/** Calls `path` until it answers `status`, and returns that answer. */
async function callUntil(base: string, path: string, status: number) {
  let last: Awaited<ReturnType<typeof api<ErrorBody>>> | undefined;
  await waitFor(
    async () => {
      last = await api<ErrorBody>(base, path, { token: null });
      return last.status === status;
    },
    { timeoutMs: 15_000, intervalMs: 20, message: `${path} answering ${status}` },
  );
  if (last === undefined) throw new Error('unreachable');
  return last;
}

function family(families: ParsedFamily[], name: string): ParsedFamily {
  const found = families.find((entry) => entry.name === name);
  if (found === undefined) throw new Error(`no metric family ${name}`);
  return found;
}

describe('the routes, memory only (no REDIS_URL)', () => {
  const logged: Logged[] = [];
  let app: ReferenceApp;
  let base: string;

  beforeAll(async () => {
    app = await startReferenceApp(configOf({}), { logger: collectingLogger(logged) });
    base = app.url;
  });
  afterAll(async () => {
    await app?.close();
  });

  const heal = async () => {
    for (const dependency of ['database', 'externalApi', 'cache']) {
      await api(base, `/admin/dependencies/${dependency}`, {
        body: { failureRate: 0, latencyMs: 0, jitterMs: 0 },
      });
    }
    for (const circuit of [DATABASE_CIRCUIT, CACHE_CIRCUIT, EXTERNAL_API_CIRCUIT]) {
      await api(base, `/admin/circuits/${encodeURIComponent(circuit)}/reset`, { body: {} });
    }
  };

  it('serves the dashboard as static files, without a build step', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('<script type="module" src="dashboard.js"></script>');
    expect(html).toContain('name="viewport"');
    const script = await fetch(`${base}/dashboard.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect(await script.text()).toContain("new EventSource('/dashboard/events')");
    const style = await fetch(`${base}/dashboard.css`);
    expect(style.status).toBe(200);
    expect(style.headers.get('content-type')).toMatch(/^text\/css/);
  });

  it('/livez and /readyz answer from the health helpers: ready, on memory', async () => {
    const live = await api(base, '/livez', { token: null });
    expect(live).toMatchObject({ status: 200, body: { status: 'ok' } });
    const ready = await api<Record<string, unknown>>(base, '/readyz', { token: null });
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      status: 'ready',
      reasons: [],
      redis: null,
      store: 'memory_only',
      openCircuits: [],
      circuits: { [DATABASE_CIRCUIT]: 'closed', [CACHE_CIRCUIT]: 'closed', [EXTERNAL_API_CIRCUIT]: 'closed' },
    });
  });

  it('/circuits lists every circuit with its state, counts, override and probe leases', async () => {
    const { status, body } = await api<CircuitsBody>(base, '/circuits', { token: null });
    expect(status).toBe(200);
    expect(body.instanceId).toBe('http-test');
    expect(body.mode).toBe('memory_only');
    expect(typeof body.now).toBe('number');
    expect(body.circuits.map((circuit) => circuit.name)).toEqual([
      DATABASE_CIRCUIT,
      CACHE_CIRCUIT,
      EXTERNAL_API_CIRCUIT,
    ]);
    const database = body.circuits[0];
    expect(database).toMatchObject({
      name: DATABASE_CIRCUIT,
      status: 'closed',
      state: 'closed',
      dependency: 'database',
      failureCount: 0,
      successCount: expect.any(Number),
      version: expect.any(Number),
      openUntil: 0,
      openRemainingMs: null,
      override: null,
      probes: 0,
      probeLeases: [],
      statusSince: expect.any(Number),
      policy: { failureThreshold: 5, successThreshold: 2, openTimeoutMs: 10_000, halfOpenMaxCalls: 2 },
    });
    expect(body.circuits[2]?.dependency).toBe('externalApi');
  });

  it('/fleet says there is no fleet without Redis', async () => {
    const { status, body } = await api<FleetView>(base, '/fleet', { token: null });
    expect(status).toBe(200);
    expect(body).toEqual({
      available: false,
      monitorConnected: false,
      members: [],
      redis: {},
      redisReadAt: null,
      divergent: [],
    });
  });

  it('/api/orders goes through the database circuit: 502 on failures, then 503 with Retry-After once open', async () => {
    await heal();
    const ok = await api<{ order: { id: string }; source: string }>(base, '/api/orders/17', { token: null });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ order: { id: '17' }, source: 'database' });

    await api(base, '/admin/dependencies/database', { body: { failureRate: 1 } });
    const failed = await api<ErrorBody>(base, '/api/orders/17', { token: null });
    expect(failed.status).toBe(502);
    expect(failed.body.error.code).toBe('DEPENDENCY_FAILED');
    const rejected = await callUntil(base, '/api/orders/17', 503);
    expect(rejected.body.error).toMatchObject({
      code: 'CIRCUIT_OPEN',
      circuit: DATABASE_CIRCUIT,
      reason: 'open',
    });
    const retryAfter = Number(rejected.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    const open = await circuitOf(base, DATABASE_CIRCUIT);
    expect(open.status).toBe('open');
    expect(open.openRemainingMs).toBeGreaterThan(0);
    expect(open.openRemainingMs).toBeLessThanOrEqual(10_000);
    const readyWhileOpen = await api<{ status: string; openCircuits: string[] }>(base, '/readyz', {
      token: null,
    });
    expect(readyWhileOpen.status).toBe(200);
    expect(readyWhileOpen.body.openCircuits).toEqual([DATABASE_CIRCUIT]);
    await heal();
  });

  it('injected latency beyond the call timeout answers 504', async () => {
    await heal();
    await api(base, '/admin/dependencies/database', { body: { latencyMs: 1_500 } });
    const slow = await api<ErrorBody>(base, '/api/orders/3', { token: null });
    expect(slow.status).toBe(504);
    expect(slow.body.error.code).toBe('DEPENDENCY_TIMEOUT');
    // A timeout is a failure (recorded with the window's next batch).
    await waitFor(async () => (await circuitOf(base, DATABASE_CIRCUIT)).failureCount === 1, {
      timeoutMs: 5_000,
    });
    await heal();
  });

  it('/api/products falls back tier by tier: memory cache, stale data (the cache circuit), minimal response', async () => {
    await heal();
    type Product = { product: { id: string; name: string }; source: string; degraded: boolean };
    for (let id = 1; id <= 25; id += 1) {
      const live = await api<Product>(base, `/api/products/${id}`, { token: null });
      expect(live.status).toBe(200);
      expect(live.body.source).toBe('database');
    }
    await api(base, `/admin/circuits/${DATABASE_CIRCUIT}/force-open`, { body: { reason: 'tier test' } });
    const fromMemory = await api<Product>(base, '/api/products/25', { token: null });
    expect(fromMemory.body).toMatchObject({ source: 'memoryCache', degraded: true, product: { id: '25' } });
    // The memory cache keeps the last 20: product 1 comes from the cache dependency.
    const fromCache = await api<Product>(base, '/api/products/1', { token: null });
    expect(fromCache.body).toMatchObject({ source: 'staleData', degraded: true, product: { id: '1' } });
    const minimal = await api<Product>(base, '/api/products/999', { token: null });
    expect(minimal.body).toMatchObject({
      source: 'minimalResponse',
      product: { id: '999', name: 'unavailable' },
    });
    // The cache failing: its own circuit counts it, and the answer drops to the minimal response.
    await api(base, '/admin/dependencies/cache', { body: { failureRate: 1 } });
    const cacheDown = await api<Product>(base, '/api/products/2', { token: null });
    expect(cacheDown.status).toBe(200);
    expect(cacheDown.body.source).toBe('minimalResponse');
    expect((await circuitOf(base, CACHE_CIRCUIT)).failureCount).toBe(1);
    await heal();
  });

  it('/api/quotes uses @xnai/cb-fetch against the simulated upstream: 502 on 5xx, then 503 with Retry-After', async () => {
    await heal();
    const ok = await api<{ quote: { symbol: string; price: number }; source: string }>(
      base,
      '/api/quotes/xnai',
      {
        token: null,
      },
    );
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      quote: { symbol: 'XNAI', price: expect.any(Number) },
      source: 'externalApi',
    });
    expect((await api(base, '/api/quotes/not-a-symbol!', { token: null })).status).toBe(400);
    await api(base, '/admin/dependencies/externalApi', { body: { failureRate: 1 } });
    const failed = await api<ErrorBody>(base, '/api/quotes/XNAI', { token: null });
    expect(failed.status).toBe(502);
    expect(failed.body.error).toMatchObject({
      code: 'UPSTREAM_FAILED',
      message: 'the external API answered 503',
    });
    const rejected = await callUntil(base, '/api/quotes/XNAI', 503);
    expect(rejected.body.error).toMatchObject({ code: 'CIRCUIT_OPEN', circuit: EXTERNAL_API_CIRCUIT });
    expect(Number(rejected.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await heal();
  });

  it('/metrics is the Prometheus text format, with the circuits and the process', async () => {
    await api(base, '/api/orders/1', { token: null });
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusTextFormat(await response.text());
    const state = family(families, 'circuit_breaker_state');
    expect(state.type).toBe('GAUGE');
    const closed = state.metrics.filter(
      (metric) => metric.labels?.state === 'closed' && metric.value === '1',
    );
    expect(closed.map((metric) => metric.labels?.name).sort()).toEqual(
      [CACHE_CIRCUIT, DATABASE_CIRCUIT, EXTERNAL_API_CIRCUIT].sort(),
    );
    const calls = family(families, 'circuit_breaker_calls_total');
    expect(calls.type).toBe('COUNTER');
    const successes = calls.metrics.find(
      (metric) => metric.labels?.name === DATABASE_CIRCUIT && metric.labels.outcome === 'success',
    );
    expect(Number(successes?.value)).toBeGreaterThan(0);
    const durations = family(families, 'circuit_breaker_call_duration_seconds');
    expect(durations.type).toBe('HISTOGRAM');
    expect(family(families, 'process_cpu_user_seconds_total').type).toBe('COUNTER');
    for (const entry of families) {
      for (const metric of entry.metrics) {
        const values = entry.type === 'HISTOGRAM' ? Object.values(metric.buckets ?? {}) : [metric.value];
        expect(values.length, entry.name).toBeGreaterThan(0);
        for (const value of values) expect(Number.isNaN(Number(value)), `${entry.name} ${value}`).toBe(false);
      }
    }
  });

  it('/dashboard/snapshot and /dashboard/events carry the whole dashboard', async () => {
    const { status, body } = await api<Record<string, unknown>>(base, '/dashboard/snapshot', { token: null });
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(
      [
        'charts',
        'circuits',
        'dependencies',
        'fallbackStatus',
        'fallbackWrites',
        'fleet',
        'instance',
        'load',
        'mode',
        'now',
        'outage',
        'pushDelay',
        'redis',
        'sentAt',
        'timeline',
      ].sort(),
    );
    expect(body).toMatchObject({
      mode: 'memory_only',
      redis: null,
      outage: { available: false, active: false },
      instance: { id: 'http-test', environment: 'development' },
      load: { running: false },
      dependencies: {
        database: { failureRate: 0 },
        externalApi: { failureRate: 0 },
        cache: { failureRate: 0 },
      },
      charts: { bucketMs: 5_000 },
    });
    expect((body.timeline as { kind: string; text: string }[])[0]).toMatchObject({
      kind: 'start',
      text: expect.stringContaining('memory store only'),
    });

    const controller = new AbortController();
    const stream = await fetch(`${base}/dashboard/events`, { signal: controller.signal });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = stream.body?.getReader();
    let text = '';
    let event: RegExpExecArray | null = null;
    while (event === null) {
      const chunk = await reader?.read();
      if (chunk === undefined || chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
      event = /event: snapshot\ndata: (.+)\n\n/.exec(text);
    }
    controller.abort();
    expect(text.startsWith('retry: 1000\n\n')).toBe(true);
    expect(event).not.toBeNull();
    expect(JSON.parse(event?.[1] ?? '{}')).toMatchObject({
      mode: 'memory_only',
      instance: { id: 'http-test' },
    });
  });

  describe('the admin guard (ADMIN_TOKEN)', () => {
    const guarded: [string, unknown][] = [
      [`/admin/circuits/${DATABASE_CIRCUIT}/force-open`, {}],
      [`/admin/circuits/${DATABASE_CIRCUIT}/force-closed`, {}],
      [`/admin/circuits/${DATABASE_CIRCUIT}/clear`, {}],
      [`/admin/circuits/${DATABASE_CIRCUIT}/reset`, {}],
      ['/admin/dependencies/database', { failureRate: 1 }],
      ['/admin/load/start', { ratePerSecond: 5 }],
      ['/admin/load/stop', {}],
      ['/admin/outage', { active: true }],
    ];

    it.each(guarded)(
      'POST %s answers 403 without the token or with a wrong one, and changes nothing',
      async (path, body) => {
        for (const token of [null, 'wrong-token-123', `${TOKEN}x`]) {
          const refused = await api<ErrorBody>(base, path, { method: 'POST', body, token });
          expect(refused.status).toBe(403);
          expect(refused.body.error.code).toBe('FORBIDDEN');
        }
        const snapshot = await api<{
          circuits: CircuitView[];
          dependencies: Record<string, { failureRate: number }>;
          load: { running: boolean };
        }>(base, '/dashboard/snapshot');
        expect(
          snapshot.body.circuits.find((circuit) => circuit.name === DATABASE_CIRCUIT)?.override,
        ).toBeNull();
        expect(snapshot.body.dependencies.database?.failureRate).toBe(0);
        expect(snapshot.body.load.running).toBe(false);
      },
    );

    it('with the token: force open (reason, expiry), force closed, clear, reset — and the status routes', async () => {
      await heal();
      const status = await api<{ registeredCircuits: string[] }>(base, '/admin/circuits', { token: null });
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({ memoryOnly: true, redisStatus: null });
      expect(status.body.registeredCircuits).toContain(DATABASE_CIRCUIT);
      expect((await api(base, `/admin/circuits/${DATABASE_CIRCUIT}`, { token: null })).status).toBe(200);
      expect((await api(base, '/admin/circuits/nope', { token: null })).status).toBe(404);
      expect((await api(base, '/admin/circuits/nope/reset', { body: {} })).status).toBe(404);

      const forced = await api<{ status: string }>(base, `/admin/circuits/${DATABASE_CIRCUIT}/force-open`, {
        body: { reason: 'maintenance window', durationMs: 30_000 },
      });
      expect(forced).toMatchObject({ status: 200, body: { status: 'forced_open' } });
      const view = await circuitOf(base, DATABASE_CIRCUIT);
      expect(view.status).toBe('forced_open');
      expect(view.override).toMatchObject({ mode: 'forced_open', reason: 'maintenance window' });
      expect((view.override?.expiresAt ?? 0) - (view.override?.setAt ?? 0)).toBe(30_000);
      const rejected = await api<ErrorBody>(base, '/api/orders/1', { token: null });
      expect(rejected.status).toBe(503);
      expect(rejected.body.error).toMatchObject({ code: 'CIRCUIT_OPEN', reason: 'forced_open' });
      const retryAfter = Number(rejected.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(20);
      expect(retryAfter).toBeLessThanOrEqual(30);

      await api(base, `/admin/circuits/${DATABASE_CIRCUIT}/force-open`, { body: {} });
      const noExpiry = await api<ErrorBody>(base, '/api/orders/1', { token: null });
      expect(noExpiry.status).toBe(503);
      expect(noExpiry.headers.get('retry-after')).toBeNull();

      expect(
        (
          await api<{ status: string }>(base, `/admin/circuits/${DATABASE_CIRCUIT}/force-closed`, {
            body: {},
          })
        ).body.status,
      ).toBe('forced_closed');
      await api(base, '/admin/dependencies/database', { body: { failureRate: 1 } });
      // Forced closed: calls go through (and fail), nothing is counted, the circuit never opens.
      for (let i = 0; i < 8; i += 1)
        expect((await api(base, '/api/orders/1', { token: null })).status).toBe(502);
      expect((await circuitOf(base, DATABASE_CIRCUIT)).status).toBe('forced_closed');
      expect(
        (await api<{ status: string }>(base, `/admin/circuits/${DATABASE_CIRCUIT}/clear`, { body: {} })).body
          .status,
      ).toBe('closed');
      expect(
        (await api<{ status: string }>(base, `/admin/circuits/${DATABASE_CIRCUIT}/reset`, { body: {} })).body
          .status,
      ).toBe('closed');
      const bad = await api<ErrorBody>(base, `/admin/circuits/${DATABASE_CIRCUIT}/force-open`, {
        body: { durationMs: -5 },
      });
      expect(bad.status).toBe(400);
      // A circuit name with ':' and '/' goes in the path URL-encoded.
      const external = await api<{ status: string }>(
        base,
        `/admin/circuits/${encodeURIComponent(EXTERNAL_API_CIRCUIT)}/force-open`,
        { body: {} },
      );
      expect(external).toMatchObject({ status: 200, body: { status: 'forced_open' } });
      await heal();
    });

    it('the simulation controls validate what they are given', async () => {
      expect((await api(base, '/admin/dependencies/printer', { body: { failureRate: 1 } })).status).toBe(404);
      const bad = await api<ErrorBody>(base, '/admin/dependencies/database', { body: { failureRate: 3 } });
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toBe('failureRate must be between 0 and 1');
      const ok = await api(base, '/admin/dependencies/cache', { body: { latencyMs: 40, jitterMs: 5 } });
      expect(ok).toMatchObject({
        status: 200,
        body: { name: 'cache', latencyMs: 40, jitterMs: 5, failureRate: 0 },
      });
      const broken = await fetch(`${base}/admin/dependencies/cache`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: '{not json',
      });
      expect(broken.status).toBe(400);
      await heal();
    });

    it('the load driver starts, sends through the routes, and stops', async () => {
      expect((await api(base, '/admin/load/start', { body: { ratePerSecond: 500 } })).status).toBe(400);
      const started = await api<{ running: boolean; ratePerSecond: number }>(base, '/admin/load/start', {
        body: { ratePerSecond: 40, durationMs: 20_000 },
      });
      expect(started.body).toMatchObject({ running: true, ratePerSecond: 40 });
      await waitFor(
        async () => {
          const { body } = await api<{ load: { statuses: Record<string, number> } }>(
            base,
            '/dashboard/snapshot',
          );
          return (body.load.statuses['200'] ?? 0) >= 10;
        },
        { timeoutMs: 15_000 },
      );
      const { body } = await api<{ charts: { circuits: Record<string, unknown> } }>(
        base,
        '/dashboard/snapshot',
      );
      expect(Object.keys(body.charts.circuits)).toEqual(
        expect.arrayContaining([DATABASE_CIRCUIT, EXTERNAL_API_CIRCUIT]),
      );
      const series = (
        body.charts.circuits as Record<string, { counts: { success: number[] }; p99Ms: (number | null)[] }>
      )[DATABASE_CIRCUIT];
      expect(series?.counts.success.reduce((sum, count) => sum + count, 0)).toBeGreaterThan(0);
      expect(series?.p99Ms.some((value) => value !== null && value > 0)).toBe(true);
      const stopped = await api<{ running: boolean; sent: number }>(base, '/admin/load/stop', { body: {} });
      expect(stopped.body.running).toBe(false);
      expect(stopped.body.sent).toBeGreaterThan(0);
    });

    it('stopping the load aborts the requests in flight, and a client that leaves is no error', async () => {
      await api(base, '/admin/dependencies/database', { body: { latencyMs: 400 } });
      await api(base, '/admin/dependencies/externalApi', { body: { latencyMs: 400 } });
      await api(base, '/admin/load/start', { body: { ratePerSecond: 100, durationMs: 20_000 } });
      type Load = { load: { inFlight: number } };
      await waitFor(async () => (await api<Load>(base, '/dashboard/snapshot')).body.load.inFlight >= 10, {
        timeoutMs: 10_000,
      });
      await api(base, '/admin/load/stop', { body: {} });
      await waitFor(async () => (await api<Load>(base, '/dashboard/snapshot')).body.load.inFlight === 0, {
        timeoutMs: 10_000,
      });
      // The aborted requests' handlers settle after their clients left: give them their latency.
      await new Promise((resolve) => setTimeout(resolve, 600));
      await heal();
    });

    it('the outage switch answers 409 without Redis', async () => {
      const answer = await api<ErrorBody>(base, '/admin/outage', { body: { active: true } });
      expect(answer.status).toBe(409);
      expect(answer.body.error.code).toBe('NO_OUTAGE_SWITCH');
      expect((await api(base, '/admin/outage', { body: { active: 'yes' } })).status).toBe(400);
    });
  });

  it('answers unknown routes with a JSON 404', async () => {
    const missing = await api<ErrorBody>(base, '/nope', { token: null });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
  });

  it('made no noise: nothing logged as a warning or an error, no word of Redis', () => {
    expect(logged.filter((entry) => entry.level !== 'info')).toEqual([]);
    expect(logged.filter((entry) => /redis/i.test(entry.message))).toEqual([]);
  });
});

describe('the routes, with Redis', () => {
  let redis: RedisServer;
  let app: ReferenceApp;
  let base: string;

  beforeAll(async () => {
    redis = await startRedis({ controllable: true });
    app = await startReferenceApp(configOf({ redisUrl: redis.url, instanceId: 'http-redis' }));
    base = app.url;
  });
  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  it('reports Redis mode, and the fleet view has this instance beside Redis', async () => {
    expect((await api<CircuitsBody>(base, '/circuits', { token: null })).body.mode).toBe('redis');
    const ready = await api<{ status: string }>(base, '/readyz', { token: null });
    expect(ready).toMatchObject({ status: 200, body: { status: 'ready', store: 'redis' } });
    const fleet = await waitFor(
      async () => {
        const { body } = await api<FleetView>(base, '/fleet', { token: null });
        return body.members.length === 1 && body.redisReadAt !== null ? body : null;
      },
      { timeoutMs: 10_000 },
    );
    expect(fleet).toMatchObject({ available: true, monitorConnected: true, divergent: [] });
    expect(fleet.members[0]).toMatchObject({
      self: true,
      stale: false,
      heartbeat: { instanceId: 'http-redis', mode: 'redis', versions: { app: '0.0.0' } },
    });
    expect(Object.keys(fleet.members[0]?.heartbeat.circuits ?? {}).sort()).toEqual(
      [CACHE_CIRCUIT, DATABASE_CIRCUIT, EXTERNAL_API_CIRCUIT].sort(),
    );
    const families = parsePrometheusTextFormat(await (await fetch(`${base}/metrics`)).text());
    expect(family(families, 'redis_connected').metrics[0]?.value).toBe('1');
  });

  it('the outage switch: fallback, an operator action on the mirror, then recovery and reconciliation into Redis', async () => {
    const on = await api<{ active: boolean; mode: string }>(base, '/admin/outage', {
      body: { active: true, mode: 'reset' },
    });
    expect(on.body).toMatchObject({ active: true, mode: 'reset' });
    await waitFor(async () => (await api<CircuitsBody>(base, '/circuits')).body.mode === 'fallback', {
      timeoutMs: 10_000,
      message: 'fallback mode',
    });
    const degraded = await api<{ status: string }>(base, '/readyz', { token: null });
    expect(degraded).toMatchObject({ status: 200, body: { status: 'degraded' } });
    // Decided while cut off: it reaches only the mirror...
    await api(base, `/admin/circuits/${CACHE_CIRCUIT}/force-open`, { body: { reason: 'during the outage' } });
    const cutOff = await api<FleetView>(base, '/fleet');
    expect(cutOff.body.monitorConnected).toBe(true);
    expect(cutOff.body.members[0]?.heartbeat).toMatchObject({ mode: 'fallback', outage: true });

    await api(base, '/admin/outage', { body: { active: false } });
    // ...and is merged into Redis once it is back.
    type Snapshot = {
      mode: string;
      timeline: { kind: string; details?: { merged?: number } }[];
      fleet: FleetView;
    };
    const settled = await waitFor(
      async () => {
        const { body } = await api<Snapshot>(base, '/dashboard/snapshot');
        const merged = body.timeline.some(
          (entry) => entry.kind === 'reconciled' && (entry.details?.merged ?? 0) > 0,
        );
        return body.mode === 'redis' && merged && body.fleet.redis[CACHE_CIRCUIT]?.status === 'forced_open'
          ? body
          : null;
      },
      { timeoutMs: 15_000, message: 'recovered, reconciled, and the override in Redis' },
    );
    const kinds = settled.timeline.map((entry) => entry.kind);
    expect(kinds.indexOf('fallback')).toBeGreaterThan(kinds.indexOf('outage'));
    expect(kinds.lastIndexOf('recovered')).toBeGreaterThan(kinds.indexOf('fallback'));
    expect(kinds.lastIndexOf('reconciled')).toBeGreaterThan(kinds.indexOf('fallback'));
    expect(settled.fleet.redis[CACHE_CIRCUIT]?.override).toMatchObject({ reason: 'during the outage' });
  });

  it('shows the probe leases in flight: in /circuits and in Redis, while a half-open probe runs', async () => {
    await api(base, '/admin/dependencies/externalApi', {
      body: { failureRate: 1, latencyMs: 0, jitterMs: 0 },
    });
    await callUntil(base, '/api/quotes/XNAI', 503);
    // The open period is 10 s; then the next call is a probe, held 1.5 s by the slow API.
    await api(base, '/admin/dependencies/externalApi', { body: { failureRate: 0, latencyMs: 1_500 } });
    await waitFor(async () => (await circuitOf(base, EXTERNAL_API_CIRCUIT)).openRemainingMs === null, {
      timeoutMs: 20_000,
      intervalMs: 100,
      message: 'the open period over',
    });
    const probe = api<{ quote: unknown }>(base, '/api/quotes/XNAI', { token: null });
    const leased = await waitFor(
      async () => {
        const view = await circuitOf(base, EXTERNAL_API_CIRCUIT);
        return view.probeLeases.length === 1 ? view : null;
      },
      { timeoutMs: 5_000, message: 'a probe lease in the view' },
    );
    expect(leased.status).toBe('half_open');
    expect(leased.probes).toBe(1);
    expect(leased.probeLeases[0]?.expiresInMs).toBeGreaterThan(0);
    const inRedis = await waitFor(
      async () => {
        const { body } = await api<FleetView>(base, '/fleet', { token: null });
        return body.redis[EXTERNAL_API_CIRCUIT]?.probes === 1 ? body.redis[EXTERNAL_API_CIRCUIT] : null;
      },
      { timeoutMs: 5_000, message: "the lease in Redis's state" },
    );
    expect(inRedis.status).toBe('half_open');
    expect((await probe).status).toBe(200);
    await waitFor(async () => (await circuitOf(base, EXTERNAL_API_CIRCUIT)).probeLeases.length === 0, {
      timeoutMs: 5_000,
      message: 'the lease released',
    });
  }, 60_000);
});

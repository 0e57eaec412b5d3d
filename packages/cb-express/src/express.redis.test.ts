import type { AddressInfo } from 'node:net';
import { CircuitOpenError, createCircuitBreaker, StoreUnavailableError } from '@xnai/cb-core';
import { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { CircuitBreakerRegistry } from '@xnai/cb-registry';
import { MemoryStateStore } from '@xnai/cb-store-memory';
import { type RedisServer, startRedis, waitFor } from '@xnai/test-utils';
import express, { type Express } from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCircuitBreakerRouter } from './circuit-breaker-router.js';
import { circuitBreakerErrorHandler } from './error-handler.js';
import { createHealthRouter } from './health.js';
import { withCircuitBreaker } from './with-circuit-breaker.js';

let server: RedisServer;
const closers: Array<() => Promise<void> | void> = [];
let prefixes = 0;

beforeAll(async () => {
  server = await startRedis();
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});
afterAll(async () => {
  await server?.stop();
});

/** Serves `app` on a free loopback port; closed after the test. */
async function listen(app: Express): Promise<string> {
  const http = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => http.once('listening', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

async function registry(keyPrefix = `express${++prefixes}:`): Promise<CircuitBreakerRegistry> {
  const manager = new RedisConnectionManager({ url: server.url, operationTimeoutMs: 250 });
  await manager.connect();
  const created = new CircuitBreakerRegistry({ redis: manager, keyPrefix });
  closers.push(() => created.cleanup());
  return created;
}

describe('circuitBreakerErrorHandler over HTTP', () => {
  it('answers 503 with Retry-After: seconds until retryAt, rounded up, at least 1; none without retryAt', async () => {
    const now = 1_800_000_000_000;
    const app = express();
    app.get('/open/:offset', () => {
      throw new CircuitOpenError('inventory', 'open', now + Number(app.get('offset')));
    });
    app.get('/forced', () => {
      throw new CircuitOpenError('inventory', 'forced_open', null);
    });
    app.get('/store', () => {
      throw new StoreUnavailableError('Circuit "inventory" is fail-closed and Redis is unavailable');
    });
    app.get('/other', () => {
      throw new Error('not ours');
    });
    app.use(circuitBreakerErrorHandler({ clock: { now: () => now } }));
    const base = await listen(app);
    for (const [offset, expected] of [
      [1, '1'],
      [1_000, '1'],
      [1_001, '2'],
      [59_999, '60'],
      [-5_000, '1'],
    ] as const) {
      app.set('offset', offset);
      const response = await fetch(`${base}/open/x`);
      expect(response.status, `offset ${offset}`).toBe(503);
      expect(response.headers.get('retry-after'), `offset ${offset}`).toBe(expected);
      expect(await response.json()).toEqual({
        error: {
          code: 'CIRCUIT_OPEN',
          message: `Circuit "inventory" is open until ${now + offset}`,
          circuit: 'inventory',
          reason: 'open',
          retryAt: now + offset,
        },
      });
    }
    const forced = await fetch(`${base}/forced`);
    expect(forced.status).toBe(503);
    expect(forced.headers.get('retry-after')).toBeNull();
    const store = await fetch(`${base}/store`);
    expect(store.status).toBe(503);
    expect(store.headers.get('retry-after')).toBeNull();
    expect(((await store.json()) as { error: { code: string } }).error.code).toBe('STORE_UNAVAILABLE');
    expect((await fetch(`${base}/other`)).status).toBe(500);
  });

  it('hides circuit details from clients with exposeDetails: false', async () => {
    const app = express();
    app.get('/', () => {
      throw new CircuitOpenError('secret-backend', 'open', Date.now() + 5_000);
    });
    app.use(circuitBreakerErrorHandler({ exposeDetails: false }));
    const response = await fetch(await listen(app));
    expect(response.status).toBe(503);
    expect(await response.text()).not.toContain('secret-backend');
  });
});

describe('withCircuitBreaker over HTTP', () => {
  it('runs the route through the registry breaker: failures trip it, then 503 with Retry-After from retryAt', async () => {
    const r = await registry();
    r.registerCircuitBreaker('upstream', { failureThreshold: 2, openTimeoutMs: 30_000 });
    let healthy = true;
    const app = express();
    app.get(
      '/data',
      withCircuitBreaker(r, 'upstream', async (_request, response) => {
        if (!healthy) throw new Error('upstream down');
        response.json({ ok: true });
      }),
    );
    app.use(circuitBreakerErrorHandler());
    const base = await listen(app);
    expect((await fetch(`${base}/data`)).status).toBe(200);
    healthy = false;
    expect((await fetch(`${base}/data`)).status).toBe(500);
    expect((await fetch(`${base}/data`)).status).toBe(500);
    expect(r.get('upstream')?.status).toBe('open');
    const before = Date.now();
    const rejected = await fetch(`${base}/data`);
    const after = Date.now();
    expect(rejected.status).toBe(503);
    const seconds = Number(rejected.headers.get('retry-after'));
    const retryAt = r.get('upstream')?.stateData.openUntil as number;
    // The header is retryAt in whole seconds from the handler's now, rounded up. retryAt is on the
    // store's clock (Redis time as the registry estimates it), which may lead this process's clock by
    // the estimate's error: a few milliseconds that rounding up can turn into one more second (a
    // loaded run saw 31 for a 30 s open period).
    expect(seconds).toBeGreaterThanOrEqual(Math.max(1, Math.ceil((retryAt - after) / 1_000)));
    expect(seconds).toBeLessThanOrEqual(Math.ceil((retryAt - before) / 1_000) + 1);
    expect(seconds).toBeGreaterThanOrEqual(29);
    expect(seconds).toBeLessThanOrEqual(31);
  });

  it("hands the handler the request's abort signal: a client that leaves aborts it, and the outcome is not counted", async () => {
    const breaker = createCircuitBreaker({
      name: 'slow',
      store: new MemoryStateStore(),
      failureThreshold: 1,
    });
    let aborted: (reason: unknown) => void = () => undefined;
    const abortSeen = new Promise<unknown>((resolve) => {
      aborted = resolve;
    });
    let started: () => void = () => undefined;
    const handlerStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    const app = express();
    app.get(
      '/slow',
      withCircuitBreaker(breaker, async (_request, _response, signal) => {
        started();
        await new Promise((_, reject) =>
          signal.addEventListener('abort', () => {
            aborted(signal.reason);
            reject(signal.reason);
          }),
        );
      }),
    );
    const base = await listen(app);
    const client = new AbortController();
    const request = fetch(`${base}/slow`, { signal: client.signal }).catch(() => 'client aborted');
    await handlerStarted;
    client.abort();
    expect(await request).toBe('client aborted');
    expect(((await abortSeen) as Error).name).toBe('AbortError');
    // Ignored, not a failure: a failureThreshold of 1 would have opened the circuit.
    expect(breaker.status).toBe('closed');
    expect(breaker.stateData.failureCount).toBe(0);
  });
});

describe('createCircuitBreakerRouter over HTTP', () => {
  const TOKEN = 'Bearer operator-token';
  const guard = (request: express.Request) => request.get('authorization') === TOKEN;

  it('serves status as JSON and runs admin actions only behind the guard, fleet-wide', async () => {
    const keyPrefix = `admin${++prefixes}:`;
    const a = await registry(keyPrefix);
    const b = await registry(keyPrefix);
    a.registerCircuitBreaker('payments');
    b.registerCircuitBreaker('payments');
    const app = express();
    app.use('/cb', createCircuitBreakerRouter(a, { guard }));
    const base = await listen(app);
    const post = (path: string, body?: unknown, authorization?: string) =>
      fetch(`${base}/cb${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(authorization === undefined ? {} : { authorization }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });

    const status = await fetch(`${base}/cb`);
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ registeredCircuits: ['payments'], totalCircuits: 1 });
    expect(await (await fetch(`${base}/cb/payments`)).json()).toMatchObject({
      name: 'payments',
      status: 'closed',
    });
    expect((await fetch(`${base}/cb/nope`)).status).toBe(404);

    // The guard refuses: 403, and nothing changed.
    const refused = await post('/payments/force-open', { reason: 'x' });
    expect(refused.status).toBe(403);
    expect(await post('/payments/reset', undefined, 'Bearer wrong')).toHaveProperty('status', 403);
    expect(a.get('payments')?.status).toBe('closed');

    const forced = await post('/payments/force-open', { reason: 'maintenance', durationMs: 60_000 }, TOKEN);
    expect(forced.status).toBe(200);
    const forcedBody = (await forced.json()) as {
      status: string;
      state: { override: { reason: string; expiresAt: number } };
    };
    expect(forcedBody.status).toBe('forced_open');
    expect(forcedBody.state.override.reason).toBe('maintenance');
    // Fleet-wide: the other instance sees the override.
    await waitFor(() => b.get('payments')?.status === 'forced_open', { timeoutMs: 3_000 });

    expect((await post('/payments/force-open', { durationMs: 0 }, TOKEN)).status).toBe(400);
    expect((await post('/payments/force-open', { reason: 7 }, TOKEN)).status).toBe(400);
    expect((await post('/payments/force-open', { colour: 'red' }, TOKEN)).status).toBe(400);
    expect((await post('/nope/force-open', {}, TOKEN)).status).toBe(404);

    expect(await (await post('/payments/clear', undefined, TOKEN)).json()).toMatchObject({
      status: 'closed',
    });
    await waitFor(() => b.get('payments')?.status === 'closed', { timeoutMs: 3_000 });
    expect(await (await post('/payments/force-closed', { reason: 'drill' }, TOKEN)).json()).toMatchObject({
      status: 'forced_closed',
    });
    expect(await (await post('/payments/reset', undefined, TOKEN)).json()).toMatchObject({
      status: 'closed',
    });
  });

  it('guards the status routes too with guardStatus, and refuses to build without a guard', async () => {
    const r = await registry();
    const app = express();
    app.use('/cb', createCircuitBreakerRouter(r, { guard, guardStatus: true }));
    const base = await listen(app);
    expect((await fetch(`${base}/cb`)).status).toBe(403);
    expect((await fetch(`${base}/cb`, { headers: { authorization: TOKEN } })).status).toBe(200);
    expect(() => createCircuitBreakerRouter(r, {} as never)).toThrow(/guard must be a function/);
  });

  it('passes a guard that throws to the error handler', async () => {
    const r = await registry();
    r.registerCircuitBreaker('x');
    const app = express();
    app.use(
      '/cb',
      createCircuitBreakerRouter(r, {
        guard: () => {
          throw new Error('auth service down');
        },
      }),
    );
    app.use(
      (error: Error, _request: express.Request, response: express.Response, _next: express.NextFunction) => {
        response.status(500).json({ message: error.message });
      },
    );
    const base = await listen(app);
    const response = await fetch(`${base}/cb/x/reset`, { method: 'POST' });
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ message: 'auth service down' });
    expect(r.get('x')?.status).toBe('closed');
  });
});

describe('createHealthRouter over HTTP', () => {
  it('liveness 200; readiness 200 with an open breaker in its body, 503 once the registry shuts down', async () => {
    const r = await registry();
    r.registerCircuitBreaker('payments', { failureThreshold: 1 });
    await r
      .callWithCircuitBreaker('payments', () => Promise.reject(new Error('down')))
      .catch(() => undefined);
    const app = express();
    app.use(createHealthRouter(r));
    const base = await listen(app);
    expect(await (await fetch(`${base}/livez`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      circuits: { payments: 'open' },
      openCircuits: ['payments'],
      redis: { connected: true },
    });
    await r.cleanup();
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    expect((await fetch(`${base}/livez`)).status).toBe(200);
  });
});

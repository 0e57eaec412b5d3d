import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CircuitBreaker, CircuitOpenError, type CircuitPolicyOptions } from '@xnai/cb-core';
import { MemoryStateStore } from '@xnai/cb-store-memory';
import { afterEach, describe, expect, it } from 'vitest';
import { type CircuitBreakerFetch, createCircuitBreakerFetch } from './circuit-breaker-fetch.js';
import { parseRetryAfter } from './retry-after.js';

/** A local HTTP server that fails on demand: `mode` decides the next answers. */
interface Upstream {
  readonly url: string;
  mode: 'ok' | '500' | '404' | '429' | '503-retry' | 'reset' | 'hang';
  retryAfter: string;
  requests: number;
  closedEarly: number;
}

const servers: Server[] = [];
const fetches: CircuitBreakerFetch[] = [];
afterEach(async () => {
  for (const fetchWithBreaker of fetches.splice(0)) await fetchWithBreaker.close();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function upstream(host = '127.0.0.1'): Promise<Upstream> {
  const state: Omit<Upstream, 'url'> & { url: string } = {
    url: '',
    mode: 'ok',
    retryAfter: '3',
    requests: 0,
    closedEarly: 0,
  };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    state.requests += 1;
    response.on('close', () => {
      if (!response.writableFinished) state.closedEarly += 1;
    });
    switch (state.mode) {
      case 'ok':
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
        return;
      case '500':
        response.writeHead(500).end('boom');
        return;
      case '404':
        response.writeHead(404).end('missing');
        return;
      case '429':
        response.writeHead(429, { 'retry-after': state.retryAfter }).end('slow down');
        return;
      case '503-retry':
        response.writeHead(503, { 'retry-after': state.retryAfter }).end('maintenance');
        return;
      case 'reset':
        request.socket.destroy();
        return;
      case 'hang':
        return;
    }
  });
  servers.push(server);
  server.listen(0, host);
  await new Promise<void>((resolve) => server.once('listening', resolve));
  state.url = `http://${host === '::1' ? '[::1]' : host}:${(server.address() as AddressInfo).port}`;
  return state;
}

function breakerFetch(options: Parameters<typeof createCircuitBreakerFetch>[0] = {}): CircuitBreakerFetch {
  const created = createCircuitBreakerFetch(options);
  fetches.push(created);
  return created;
}

describe('createCircuitBreakerFetch against a local HTTP server', () => {
  it('counts 5xx as failures, returns them, then rejects without touching the network while open', async () => {
    const server = await upstream();
    const fetchWithBreaker = breakerFetch({ breaker: { failureThreshold: 2, openTimeoutMs: 60_000 } });
    expect((await fetchWithBreaker(`${server.url}/a`)).status).toBe(200);
    server.mode = '500';
    expect((await fetchWithBreaker(`${server.url}/a`)).status).toBe(500);
    expect((await fetchWithBreaker(`${server.url}/b`)).status).toBe(500);
    const breaker = fetchWithBreaker.breaker(server.url);
    expect(breaker?.name).toBe(`fetch:${server.url}`);
    expect(breaker?.status).toBe('open');
    const before = server.requests;
    const rejected = await fetchWithBreaker(`${server.url}/a`).catch((error: unknown) => error);
    expect(CircuitOpenError.isInstance(rejected)).toBe(true);
    expect((rejected as CircuitOpenError).retryAt).toBeGreaterThan(Date.now());
    expect(server.requests).toBe(before);
  });

  it('counts 429 and network errors as failures, 404 as a success', async () => {
    const server = await upstream();
    const fetchWithBreaker = breakerFetch({ breaker: { failureThreshold: 3 }, honourRetryAfter: false });
    server.mode = '404';
    expect((await fetchWithBreaker(server.url)).status).toBe(404);
    expect(fetchWithBreaker.breaker(server.url)?.stateData.failureCount).toBe(0);
    server.mode = '429';
    expect((await fetchWithBreaker(server.url)).status).toBe(429);
    expect(fetchWithBreaker.breaker(server.url)?.stateData.failureCount).toBe(1);
    server.mode = 'reset';
    await expect(fetchWithBreaker(server.url)).rejects.toThrow(TypeError);
    expect(fetchWithBreaker.breaker(server.url)?.stateData.failureCount).toBe(2);
    await expect(fetchWithBreaker(server.url)).rejects.toThrow(TypeError);
    expect(fetchWithBreaker.breaker(server.url)?.status).toBe('open');
  });

  it('keeps one breaker per origin: a failing origin does not open another', async () => {
    const failing = await upstream();
    const healthy = await upstream();
    const fetchWithBreaker = breakerFetch({ breaker: { failureThreshold: 1 } });
    failing.mode = '500';
    await fetchWithBreaker(`${failing.url}/x`);
    expect(fetchWithBreaker.breaker(failing.url)?.status).toBe('open');
    expect((await fetchWithBreaker(`${healthy.url}/x`)).status).toBe(200);
    expect(fetchWithBreaker.breaker(healthy.url)?.status).toBe('closed');
  });

  it('honours Retry-After as the floor of the open period, and only up to maxRetryAfterMs', async () => {
    const server = await upstream();
    const fetchWithBreaker = breakerFetch({ breaker: { failureThreshold: 1, openTimeoutMs: 1_000 } });
    server.mode = '503-retry';
    server.retryAfter = '30';
    const started = Date.now();
    expect((await fetchWithBreaker(server.url)).status).toBe(503);
    const breaker = fetchWithBreaker.breaker(server.url) as CircuitBreaker<never>;
    expect(breaker.status).toBe('forced_open');
    const expiresAt = breaker.stateData.override?.expiresAt as number;
    expect(expiresAt - started).toBeGreaterThanOrEqual(30_000);
    expect(expiresAt - Date.now()).toBeLessThanOrEqual(30_000);
    const rejected = (await fetchWithBreaker(server.url).catch(
      (error: unknown) => error,
    )) as CircuitOpenError;
    expect(rejected.retryAt).toBe(expiresAt);

    // Shorter than the open period: nothing to do. Longer than the cap: capped.
    const other = await upstream();
    other.mode = '429';
    other.retryAfter = '1';
    const capped = breakerFetch({
      breaker: { failureThreshold: 1, openTimeoutMs: 60_000 },
      maxRetryAfterMs: 90_000,
    });
    await capped(other.url);
    expect(capped.breaker(other.url)?.status).toBe('open');
    expect(capped.breaker(other.url)?.stateData.override).toBeNull();
    const third = await upstream();
    third.mode = '429';
    third.retryAfter = new Date(Date.now() + 86_400_000).toUTCString();
    const before = Date.now();
    await capped(third.url);
    const override = capped.breaker(third.url)?.stateData.override;
    expect(override?.mode).toBe('forced_open');
    expect((override?.expiresAt as number) - before).toBeLessThanOrEqual(90_000 + 1_000);
    expect((override?.expiresAt as number) - before).toBeGreaterThanOrEqual(89_000);
  });

  it("passes the caller's signal to fetch: aborting it cancels the request and counts for nothing", async () => {
    const server = await upstream();
    server.mode = 'hang';
    const fetchWithBreaker = breakerFetch({ breaker: { failureThreshold: 1 } });
    const controller = new AbortController();
    const pending = fetchWithBreaker(server.url, { signal: controller.signal });
    while (server.requests === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort(new Error('user navigated away'));
    await expect(pending).rejects.toThrow('user navigated away');
    while (server.closedEarly === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(fetchWithBreaker.breaker(server.url)?.status).toBe('closed');
    // A Request's own signal is passed on too.
    const second = new AbortController();
    const request = fetchWithBreaker(new Request(server.url, { signal: second.signal }));
    while (server.requests < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    second.abort();
    await expect(request).rejects.toThrow();
    while (server.closedEarly < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(fetchWithBreaker.breaker(server.url)?.stateData.failureCount).toBe(0);
  });

  it('keeps at most maxOrigins, dropping the least recently used closed one before an open one', async () => {
    const [a, b, c] = [await upstream(), await upstream(), await upstream()];
    const fetchWithBreaker = breakerFetch({ maxOrigins: 2, breaker: { failureThreshold: 1 } });
    a.mode = '500';
    await fetchWithBreaker(a.url);
    await fetchWithBreaker(b.url);
    await fetchWithBreaker(c.url);
    // a is the least recently used, but open: b goes.
    expect(fetchWithBreaker.origins).toEqual([a.url, c.url]);
    expect(fetchWithBreaker.breaker(a.url)?.status).toBe('open');
    expect(fetchWithBreaker.breaker(b.url)).toBeUndefined();
    for (let i = 0; i < 20; i++) await fetchWithBreaker(`${b.url}/${i}`).catch(() => undefined);
    expect(fetchWithBreaker.origins.length).toBe(2);
  });

  it('registers breakers with a provider (a registry) instead, and removes them on eviction', async () => {
    const server = await upstream();
    const other = await upstream();
    const store = new MemoryStateStore();
    const registered = new Map<string, CircuitBreaker<never>>();
    const removed: string[] = [];
    const provider = {
      registerCircuitBreaker: (name: string, config: CircuitPolicyOptions = {}) => {
        const breaker = new CircuitBreaker<never>({ ...config, name, store });
        registered.set(name, breaker);
        return breaker;
      },
      remove: async (name: string) => {
        removed.push(name);
        await registered.get(name)?.close();
        return registered.delete(name);
      },
    };
    const fetchWithBreaker = breakerFetch({
      breakers: provider,
      maxOrigins: 1,
      breaker: { failureThreshold: 1 },
    });
    server.mode = '500';
    await fetchWithBreaker(server.url);
    expect(registered.get(`fetch:${server.url}`)?.status).toBe('open');
    await fetchWithBreaker(other.url);
    expect(removed).toEqual([`fetch:${server.url}`]);
    await store.close();
  });

  it('validates its options', () => {
    expect(() => createCircuitBreakerFetch({ maxOrigins: 0 })).toThrow(
      'maxOrigins must be a positive integer, got 0',
    );
    expect(() => createCircuitBreakerFetch({ breaker: { failureThreshold: 0 } })).toThrow(RangeError);
    expect(() => createCircuitBreakerFetch({ retries: 3 } as never)).toThrow(
      'options has an unknown option "retries"',
    );
    expect(() => createCircuitBreakerFetch({ store: new MemoryStateStore(), breakers: {} as never })).toThrow(
      'give either store or breakers, not both',
    );
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP-dates, and nothing else', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBeNull();
    expect(parseRetryAfter('0', now)).toBeNull();
    expect(parseRetryAfter('-5', now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});

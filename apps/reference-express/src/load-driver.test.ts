import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@xnai/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { findLoadProblem, LOAD_LIMITS, LoadDriver, type LoadStatus } from './load-driver.js';

let server: Server | undefined;
let driver: LoadDriver | undefined;

async function serve(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  driver?.stop();
  driver = undefined;
  const closing = server;
  server = undefined;
  if (closing === undefined) return;
  closing.closeAllConnections();
  await new Promise((resolve) => closing.close(resolve));
});

describe('LoadDriver', () => {
  it('sends at the rate asked, no faster, to the paths in turn, and counts answers', async () => {
    const paths: string[] = [];
    const base = await serve((request, response) => {
      paths.push(request.url ?? '');
      response.statusCode = request.url === '/b' ? 503 : 200;
      response.end('{}');
    });
    const changes: LoadStatus[] = [];
    const picked: string[] = [];
    const path = (name: string) => () => {
      picked.push(name);
      return name;
    };
    driver = new LoadDriver(
      () => base,
      [path('/a'), path('/b')],
      (status) => changes.push(status),
    );
    const started = performance.now();
    driver.start({ ratePerSecond: 50, durationMs: 60_000 });
    await waitFor(() => (driver?.status.sent ?? 0) >= 20, { timeoutMs: 10_000 });
    const elapsedS = (performance.now() - started) / 1_000;
    const status = driver.stop();
    // At most the rate times the time it ran, plus one tick's worth.
    expect(status.sent).toBeLessThanOrEqual(Math.ceil(50 * elapsedS) + 5);
    // Paths in turn (requests may reach the server in another order: they run concurrently).
    expect(picked.slice(0, 4)).toEqual(['/a', '/b', '/a', '/b']);
    expect(picked).toHaveLength(status.sent);
    await waitFor(() => paths.length >= 10);
    expect(new Set(paths)).toEqual(new Set(['/a', '/b']));
    await waitFor(() => (driver?.status.statuses['200'] ?? 0) + (driver?.status.statuses['503'] ?? 0) >= 10);
    expect(Object.keys(driver.status.statuses).sort()).toEqual(['200', '503']);
    expect(changes.map((change) => change.running)).toEqual([true, false]);
  });

  it('never has more than maxInFlight requests waiting, and stop() aborts them', async () => {
    const held: ServerResponse[] = [];
    const base = await serve((_request, response) => {
      held.push(response);
    });
    driver = new LoadDriver(
      () => base,
      [() => '/slow'],
      () => undefined,
    );
    driver.start({ ratePerSecond: LOAD_LIMITS.maxRatePerSecond, durationMs: 60_000 });
    await waitFor(() => (driver?.status.skipped ?? 0) > 0, { timeoutMs: 10_000 });
    expect(driver.status.inFlight).toBe(LOAD_LIMITS.maxInFlight);
    driver.stop();
    await waitFor(() => driver?.status.inFlight === 0, { timeoutMs: 5_000 });
    // Aborted by stop(): not counted as errors of the target.
    expect(driver.status.statuses).toEqual({});
  });

  it('stops by itself at the end of its duration', async () => {
    const base = await serve((_request, response) => response.end('{}'));
    driver = new LoadDriver(
      () => base,
      [() => '/'],
      () => undefined,
    );
    driver.start({ ratePerSecond: 10, durationMs: 1_000 });
    expect(driver.status.running).toBe(true);
    await waitFor(() => driver?.status.running === false, { timeoutMs: 10_000 });
    const sent = driver.status.sent;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(driver.status.sent).toBe(sent);
  });

  it('refuses settings beyond its bounds', () => {
    expect(findLoadProblem({ ratePerSecond: 201 })).toBe('ratePerSecond must be between 1 and 200');
    expect(findLoadProblem({ durationMs: 3_600_000 })).toBe('durationMs must be between 1000 and 600000');
    expect(findLoadProblem({ ratePerSecond: 1.5 })).toBe('ratePerSecond must be an integer');
    expect(findLoadProblem({ rate: 5 })).toBe('unknown field "rate"');
    expect(findLoadProblem({ ratePerSecond: 20, durationMs: 60_000 })).toBeNull();
    const idle = new LoadDriver(
      () => 'http://127.0.0.1:1',
      [() => '/'],
      () => undefined,
    );
    expect(() => idle.start({ ratePerSecond: 0 })).toThrow(RangeError);
    expect(idle.status.running).toBe(false);
  });
});

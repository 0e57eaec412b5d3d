import { join } from 'node:path';
import { type RedisServer, startRedis, waitFor } from '@xnai/test-utils';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppProcess, api, startAppProcess, TOKEN } from './__tests__/app-process.js';
import { ARTIFACTS, launchBrowser } from './__tests__/browser.js';
import type { CircuitView } from './circuit-view.js';
import { DATABASE_CIRCUIT } from './circuits.js';
import type { FleetView } from './fleet.js';

// The topology of docker-compose.yml (one Redis, two replicas of the app) with local processes.

type Circuits = { mode: string; circuits: CircuitView[] };

async function circuit(app: AppProcess, name: string): Promise<CircuitView & { mode: string }> {
  const { body } = await api<Circuits>(app.url, '/circuits', { token: null });
  const found = body.circuits.find((entry) => entry.name === name);
  if (found === undefined) throw new Error(`${app.instanceId} has no circuit ${name}`);
  return { ...found, mode: body.mode };
}

async function fleetOf(app: AppProcess): Promise<FleetView> {
  return (await api<FleetView>(app.url, '/fleet', { token: null })).body;
}

describe('two instances sharing one redis-server', () => {
  let redis: RedisServer;
  let a: AppProcess;
  let b: AppProcess;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    redis = await startRedis({ controllable: true });
    [a, b] = await Promise.all([
      startAppProcess({ REDIS_URL: redis.url, INSTANCE_ID: 'instance-a' }),
      startAppProcess({ REDIS_URL: redis.url, INSTANCE_ID: 'instance-b' }),
    ]);
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  it('the fleet view of either instance shows both, beside Redis', async () => {
    for (const app of [a, b]) {
      const fleet = await waitFor(
        async () => {
          const view = await fleetOf(app);
          return view.members.length === 2 && view.redisReadAt !== null ? view : null;
        },
        { timeoutMs: 10_000, message: `both instances in the fleet view of ${app.instanceId}` },
      );
      expect(fleet.members.map((member) => member.heartbeat.instanceId)).toEqual([
        'instance-a',
        'instance-b',
      ]);
      expect(fleet.members.every((member) => member.heartbeat.mode === 'redis' && !member.stale)).toBe(true);
      expect(fleet.members.find((member) => member.self)?.heartbeat.instanceId).toBe(app.instanceId);
    }
    await page.goto(`${b.url}/#token=${TOKEN}`);
    await page.waitForSelector('#fleet-table th[data-instance="instance-a"]', { timeout: 10_000 });
    await page.waitForSelector('#fleet-table th[data-instance="instance-b"]', { timeout: 10_000 });
    await page.waitForSelector('#fleet-table th[data-instance="redis"]');
    expect(await page.locator('#mode').getAttribute('data-mode')).toBe('redis');
  });

  it('failures injected through A open the circuit, and B reports it open within one second, in /circuits and on its dashboard', async () => {
    await page.waitForSelector(`[data-circuit="${DATABASE_CIRCUIT}"][data-status="closed"]`, {
      timeout: 10_000,
    });
    await api(a.url, '/admin/dependencies/database', { body: { failureRate: 1 } });
    await waitFor(
      async () =>
        (await api(a.url, `/api/orders/${Math.floor(Math.random() * 100)}`, { token: null })).status === 503,
      { timeoutMs: 15_000, intervalMs: 20, message: 'A rejecting with 503' },
    );
    const onA = await circuit(a, DATABASE_CIRCUIT);
    expect(onA.status).toBe('open');
    // Redis time of the transition (one clock on this machine for Redis, both apps and the browser).
    const openedAt = onA.lastStateChange;

    const onB = await waitFor(
      async () => {
        const view = await circuit(b, DATABASE_CIRCUIT);
        return view.status === 'open' ? view : null;
      },
      { timeoutMs: 10_000, message: 'B reporting the circuit open' },
    );
    expect(onB.lastStateChange).toBe(openedAt);
    // B never called the database: it heard of the open circuit through Redis.
    expect(onB.failureCount).toBeGreaterThan(0);
    // When B's own view turned open (B's clock), after the transition and within a second of it.
    const heardAfterMs = onB.statusSince - openedAt;
    expect(heardAfterMs).toBeGreaterThanOrEqual(0);
    expect(heardAfterMs).toBeLessThan(1_000);

    const card = page.locator(`[data-circuit="${DATABASE_CIRCUIT}"][data-status="open"]`);
    await card.waitFor({ timeout: 10_000 });
    // When B's dashboard first showed it open (the browser's clock, the same machine's).
    const shownAfterMs = Number(await card.getAttribute('data-status-shown-at')) - openedAt;
    expect(shownAfterMs).toBeGreaterThanOrEqual(0);
    expect(shownAfterMs).toBeLessThan(1_000);
    console.info(
      `[figures] B's /circuits heard ${heardAfterMs} ms, B's dashboard showed ${shownAfterMs} ms after the transition`,
    );
    // B's fleet view: Redis and both instances see it open.
    for (const cell of ['redis', 'instance-a', 'instance-b']) {
      await page.waitForSelector(`td[data-cell="${cell}/${DATABASE_CIRCUIT}"][data-status="open"]`, {
        timeout: 10_000,
      });
    }
    // B measured how long the change took to reach it, and publishes it with its heartbeat.
    const delay = await waitFor(
      async () => {
        const beat = (await fleetOf(a)).members.find(
          (member) => member.heartbeat.instanceId === 'instance-b',
        );
        return (beat?.heartbeat.pushDelay.samples ?? 0) > 0 ? beat?.heartbeat.pushDelay : null;
      },
      { timeoutMs: 5_000, message: "B's push delay in its heartbeat" },
    );
    expect(delay.p99Ms).toBeLessThan(1_000);
    await page.screenshot({ path: join(ARTIFACTS, 'fleet-b-open.png'), fullPage: true });
  });

  it("divergence is highlighted while A is cut off and B resets the circuit, and A follows B's decision once reconciled", async () => {
    await api(a.url, '/admin/outage', { body: { active: true, mode: 'reset' } });
    await waitFor(async () => (await circuit(a, DATABASE_CIRCUIT)).mode === 'fallback', {
      timeoutMs: 10_000,
      message: 'A in fallback',
    });
    const reset = await api<{ status: string }>(b.url, `/admin/circuits/${DATABASE_CIRCUIT}/reset`, {
      body: {},
    });
    expect(reset.body.status).toBe('closed');
    // A still holds its open view: B's fleet view marks it, and only it, as different from Redis.
    const diverged = await waitFor(
      async () => {
        const view = await fleetOf(b);
        const beat = view.members.find((member) => member.heartbeat.instanceId === 'instance-a')?.heartbeat;
        return view.divergent.includes(`instance-a/${DATABASE_CIRCUIT}`) && beat?.mode === 'fallback'
          ? view
          : null;
      },
      { timeoutMs: 10_000, message: "A's view marked divergent" },
    );
    expect(diverged.divergent).not.toContain(`instance-b/${DATABASE_CIRCUIT}`);
    expect(diverged.redis[DATABASE_CIRCUIT]?.status).toBe('closed');
    expect(
      diverged.members.find((member) => member.heartbeat.instanceId === 'instance-a')?.heartbeat,
    ).toMatchObject({
      mode: 'fallback',
      outage: true,
    });
    await page.waitForSelector(`td.divergent[data-cell="instance-a/${DATABASE_CIRCUIT}"]`, {
      timeout: 10_000,
    });
    await page.screenshot({ path: join(ARTIFACTS, 'fleet-b-divergent.png'), fullPage: true });

    await api(a.url, '/admin/outage', { body: { active: false } });
    await waitFor(
      async () => {
        const view = await circuit(a, DATABASE_CIRCUIT);
        return view.mode === 'redis' && view.status === 'closed';
      },
      { timeoutMs: 15_000, message: "A back on Redis with B's reset" },
    );
    await waitFor(async () => (await fleetOf(b)).divergent.length === 0, {
      timeoutMs: 10_000,
      message: 'no divergence left',
    });
    await page.waitForSelector(
      `td[data-cell="instance-a/${DATABASE_CIRCUIT}"][data-status="closed"]:not(.divergent)`,
      {
        timeout: 10_000,
      },
    );
  });

  it('SIGTERM: an instance shuts down through cleanup(), exits 0, and leaves the fleet view of the other', async () => {
    const code = await b.stop('SIGTERM');
    expect(code).toBe(0);
    expect(b.lines.some((line) => line.includes('SIGTERM: shutting down (registry cleanup)'))).toBe(true);
    expect(b.lines.some((line) => line.includes('shutdown complete'))).toBe(true);
    expect(b.stderr).toEqual([]);
    await waitFor(
      async () => {
        const view = await fleetOf(a);
        return view.members.length === 1 && view.members[0]?.heartbeat.instanceId === 'instance-a';
      },
      { timeoutMs: 5_000, message: 'B gone from the fleet view of A' },
    );
  });
});

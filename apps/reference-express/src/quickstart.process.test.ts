import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getFreePort, waitFor } from '@xnai/test-utils';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, type RunningProcess, run } from './__tests__/app-process.js';
import { ARTIFACTS, launchBrowser } from './__tests__/browser.js';
import { DATABASE_CIRCUIT } from './circuits.js';

// A new user, from the README only: the quick start's first command, on a machine without Redis.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The commands of the README's quick start, in order. */
function quickStartCommands(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Quick start\n');
  const end = readme.indexOf('\n## ', start + 1);
  return [...readme.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((match) =>
    (match[1] ?? '').trim(),
  );
}

/** TCP sockets of a process (Linux): remote ports and states, read from /proc. */
function tcpSocketsOf(pid: number): { remotePort: number; state: string }[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1] !== undefined) inodes.add(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  const sockets: { remotePort: number; state: string }[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || !inodes.has(fields[9] ?? '')) continue;
      sockets.push({
        remotePort: Number.parseInt(fields[2]?.split(':')[1] ?? '0', 16),
        state: fields[3] ?? '',
      });
    }
  }
  return sockets;
}

describe('the quick start, as a new user runs it', () => {
  let started: RunningProcess;
  let dashboard: URL;
  let browser: Browser;

  beforeAll(async () => {
    const commands = quickStartCommands();
    expect(commands).toEqual(['bash scripts/start', 'bash .ci/run']);
    const { REDIS_URL: _none, ADMIN_TOKEN: _token, INSTANCE_ID: _id, ...env } = process.env;
    const port = await getFreePort();
    // Its own process group: the script execs the app, and the stop below reaches whatever it runs.
    started = run('bash', ['-c', commands[0] ?? ''], {
      cwd: ROOT,
      env: { ...env, PORT: String(port) },
      group: true,
    });
    const match = await started.waitForLine(/dashboard: (http:\/\/\S+)/, 240_000);
    dashboard = new URL(match[1] ?? '');
    expect(dashboard.port).toBe(String(port));
    browser = await launchBrowser();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await started?.stop('SIGTERM');
  });

  it('says it runs on memory, and /livez, /readyz and /metrics answer', async () => {
    expect(started.lines.some((line) => /memory only \(no REDIS_URL\)/.test(line))).toBe(true);
    const base = dashboard.origin;
    expect((await api(base, '/livez', { token: null })).status).toBe(200);
    const ready = await api<{ status: string; reasons: string[] }>(base, '/readyz', { token: null });
    expect(ready).toMatchObject({ status: 200, body: { status: 'ready', reasons: [] } });
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    const names = parsePrometheusTextFormat(await metrics.text()).map((family) => family.name);
    expect(names).toEqual(expect.arrayContaining(['circuit_breaker_state', 'circuit_breaker_calls_total']));
    expect(dashboard.hash).toMatch(/^#token=[\w-]{12,}$/);
  });

  it('the dashboard works: memory mode shown, load and failures through its controls', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(dashboard.toString());
    await page.waitForSelector('#mode[data-mode="memory_only"]', { timeout: 10_000 });
    expect(await page.locator('#memory-banner').isVisible()).toBe(true);
    expect(await page.locator('#outage').isHidden()).toBe(true);
    expect(await page.locator('#fleet').textContent()).toContain('Memory only: there is no fleet');
    await page.click('#load-start');
    await page.waitForSelector('[data-load="running"]', { timeout: 10_000 });
    await page.click('[data-dependency="database"] [data-action="fail"]');
    await page.waitForSelector(`[data-circuit="${DATABASE_CIRCUIT}"][data-status="open"]`, {
      timeout: 30_000,
    });
    await page.click('#load-stop');
    await page.waitForSelector('[data-load="stopped"]', { timeout: 10_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'quickstart-memory.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('made no attempt to reach a Redis and no error noise', () => {
    // The script execs the app: the process started is the app.
    const sockets = tcpSocketsOf(started.pid);
    expect(sockets.length).toBeGreaterThan(0);
    expect(sockets.filter((socket) => socket.remotePort === 6379)).toEqual([]);
    // 02 = SYN_SENT: a connection being attempted.
    expect(sockets.filter((socket) => socket.state === '02')).toEqual([]);
    expect(started.stderr.filter((line) => line.trim() !== '')).toEqual([]);
  });

  it('Ctrl-C (SIGINT) shuts it down through cleanup(), exit code 0', async () => {
    const code = await started.stop('SIGINT');
    expect(code).toBe(0);
    await waitFor(() => started.lines.some((line) => line.includes('shutdown complete')));
  });
});

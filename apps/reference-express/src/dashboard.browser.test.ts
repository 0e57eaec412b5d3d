import { join } from 'node:path';
import { type RedisServer, startRedis } from '@xnai/test-utils';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppProcess, startAppProcess, TOKEN } from './__tests__/app-process.js';
import { ARTIFACTS, launchBrowser } from './__tests__/browser.js';
import { CACHE_CIRCUIT, DATABASE_CIRCUIT } from './circuits.js';

// A person at the dashboard, in headless Chromium (Debian's, driven by playwright-core): load,
// failures, the circuit opening, the outage switch (fallback, then reconciliation), forcing closed.

const card = (name: string) => `[data-circuit="${name}"]`;

describe('the dashboard in a browser', () => {
  let redis: RedisServer;
  let app: AppProcess;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    redis = await startRedis({ controllable: true });
    app = await startAppProcess({ REDIS_URL: redis.url, INSTANCE_ID: 'demo-1' });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await redis?.stop();
  });

  it('opens live, takes the token from the URL it was given and keeps it out of the address bar', async () => {
    await page.goto(`${app.url}/#token=${TOKEN}`);
    await page.waitForSelector('#mode[data-mode="redis"]', { timeout: 10_000 });
    await page.waitForSelector('#live[data-live="open"]');
    expect(new URL(page.url()).hash).toBe('');
    expect(await page.evaluate(() => localStorage.getItem('xnai-reference-admin-token'))).toBe(TOKEN);
    expect(await page.locator('#instance').textContent()).toBe('demo-1');
    for (const name of [DATABASE_CIRCUIT, CACHE_CIRCUIT]) {
      await page.waitForSelector(`${card(name)}[data-status="closed"]`);
    }
    expect(await page.locator('#memory-banner').isHidden()).toBe(true);
  });

  it('starts load and injects failures: the circuit turns open, and the charts count the calls', async () => {
    await page.fill('#load-rate', '50');
    await page.click('#load-start');
    await page.waitForSelector('[data-load="running"]', { timeout: 10_000 });
    await page.click('[data-dependency="database"] [data-action="fail"]');
    await page.waitForSelector(`${card(DATABASE_CIRCUIT)}[data-status="open"]`, { timeout: 30_000 });
    await page.waitForSelector(`${card(DATABASE_CIRCUIT)} .open-until`);
    // Expressions run in the page (this file is compiled without the DOM's types).
    await page.waitForFunction(
      `Number(document.querySelector('[data-chart="${DATABASE_CIRCUIT}"]')?.dataset.total) > 0`,
      undefined,
      {
        timeout: 10_000,
      },
    );
    await page.waitForSelector('#timeline li[data-kind="state"]');
    await shot('1-open');
  });

  it('flips the outage switch: fallback; an override decided meanwhile; then recovery and reconciliation', async () => {
    await page.click('#outage-toggle');
    await page.waitForSelector('#outage[data-active="true"]', { timeout: 10_000 });
    await page.waitForSelector('#mode[data-mode="fallback"]', { timeout: 15_000 });
    await page.waitForSelector('#timeline li[data-kind="fallback"]', { timeout: 10_000 });
    // While cut off, force the cache circuit open: it reaches only the in-memory mirror.
    await page.fill(`${card(CACHE_CIRCUIT)} input[name="reason"]`, 'decided during the outage');
    await page.click(`${card(CACHE_CIRCUIT)} [data-action="force-open"]`);
    await page.waitForSelector(`${card(CACHE_CIRCUIT)}[data-status="forced_open"]`, { timeout: 10_000 });
    await page.waitForSelector(`td[data-cell="redis/${CACHE_CIRCUIT}"]:not([data-status="forced_open"])`);
    await shot('2-fallback');

    await page.click('#outage-toggle');
    await page.waitForSelector('#mode[data-mode="redis"]', { timeout: 20_000 });
    await page.waitForSelector('#timeline li[data-kind="recovered"]', { timeout: 10_000 });
    const reconciled = page.locator('#timeline li[data-kind="reconciled"]', { hasText: /[1-9]\d* merged/ });
    await reconciled.first().waitFor({ timeout: 15_000 });
    expect(await reconciled.first().textContent()).toMatch(/\d+ conflicting/);
    // The override decided during the outage is now Redis's state, as the fleet view shows.
    await page.waitForSelector(`td[data-cell="redis/${CACHE_CIRCUIT}"][data-status="forced_open"]`, {
      timeout: 10_000,
    });
    const kinds = await page
      .locator('#timeline li')
      .evaluateAll((items) => items.map((item) => item.getAttribute('data-kind')).reverse());
    expect(kinds.indexOf('fallback')).toBeGreaterThan(kinds.indexOf('outage'));
    expect(kinds.lastIndexOf('reconciled')).toBeGreaterThan(kinds.indexOf('fallback'));
    await shot('3-reconciled');
  });

  it('forces the circuit closed', async () => {
    await page.click(`${card(DATABASE_CIRCUIT)} [data-action="force-closed"]`);
    await page.waitForSelector(`${card(DATABASE_CIRCUIT)}[data-status="forced_closed"]`, { timeout: 10_000 });
    await page.waitForSelector(`td[data-cell="redis/${DATABASE_CIRCUIT}"][data-status="forced_closed"]`, {
      timeout: 10_000,
    });
    await page.click('#load-stop');
    await page.waitForSelector('[data-load="stopped"]', { timeout: 10_000 });
    await shot('4-forced-closed');
  });

  it('refuses controls without the token, and says how to fix it', async () => {
    await page.evaluate(() => localStorage.removeItem('xnai-reference-admin-token'));
    const bare = await browser.newPage();
    await bare.goto(app.url);
    await bare.waitForSelector('#mode[data-mode="redis"]', { timeout: 10_000 });
    await bare.click(`${card(DATABASE_CIRCUIT)} [data-action="reset"]`);
    await bare.waitForSelector('#toast[data-kind="error"]', { timeout: 10_000 });
    expect(await bare.locator('#toast').textContent()).toContain('admin token was refused');
    await bare.close();
  });

  it('fits a phone: nothing wider than the screen, every circuit on it', async () => {
    const phone = await browser.newPage({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
    });
    await phone.goto(app.url);
    await phone.waitForSelector(`${card(DATABASE_CIRCUIT)}[data-status]`, { timeout: 10_000 });
    const [scrollWidth, innerWidth] = await phone.evaluate<[number, number]>(
      '[document.documentElement.scrollWidth, window.innerWidth]',
    );
    expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
    await phone.screenshot({ path: join(ARTIFACTS, '5-phone.png'), fullPage: true });
    await phone.close();
  });

  it('had no script error along the way', () => {
    expect(problems).toEqual([]);
  });
});

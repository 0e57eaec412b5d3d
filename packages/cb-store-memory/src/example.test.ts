import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// `pnpm example` runs this script (the root README shows its output); the test holds it to that.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const script = fileURLToPath(new URL('../../../examples/local-breaker.mjs', import.meta.url));
const builtEntry = fileURLToPath(new URL('../dist/index.js', import.meta.url));

function run(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('examples/local-breaker.mjs', () => {
  it('opens on failures, rejects with retryAt, half-opens after openTimeoutMs, closes, and exits 0', async () => {
    // Imports the packages' built output; `turbo run test` builds it first (turbo.json: test dependsOn build).
    expect(existsSync(builtEntry), `${builtEntry} is missing: run \`pnpm build\` first`).toBe(true);

    const { code, stdout, stderr } = await run();

    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(12);
    expect(lines.slice(0, 4)).toEqual([
      'breaker "inventory" starts closed',
      'call 1: failed (inventory service unavailable)',
      'call 2: failed (inventory service unavailable)',
      'state change: inventory closed -> open (failure_threshold)',
    ]);
    expect(lines[4]).toBe('call 3: failed (inventory service unavailable)');
    expect(lines[5]).toMatch(
      /^call 4: rejected by the breaker \(CIRCUIT_OPEN, reason open\), retryAt \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \(in \d+ ms\)$/,
    );
    const waitMs = Number(/\(in (\d+) ms\)/.exec(lines[5] ?? '')?.[1]);
    expect(waitMs).toBeGreaterThan(0);
    expect(waitMs).toBeLessThanOrEqual(500);
    expect(lines.slice(6)).toEqual([
      'waiting 600 ms for the open period to end; the service recovers',
      'state change: inventory open -> half_open (open_timeout_elapsed)',
      'call 5: ok {"sku":"A-1","stock":7}',
      'state change: inventory half_open -> closed (probe_success_threshold)',
      'call 6: ok {"sku":"A-1","stock":7}',
      'breaker "inventory" ends closed',
    ]);
  }, 20_000);
});

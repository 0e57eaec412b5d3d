import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createTlsMaterial, type RedisServer, startRedis } from '@xnai/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROUNDS = join(import.meta.dirname, '__fixtures__/tls-cleanup-rounds.mjs');

/** Runs `node <script> ...args`; resolves with its exit code and everything it printed. */
function runNode(script: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('a registry against a TLS Redis it does not trust', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis({ tls: true });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('survives 10 create-call-cleanup rounds at random 20–200 ms in 3 processes: no socket without an error listener, exit 0', async () => {
    using untrusted = createTlsMaterial();
    const runs = await Promise.all([1, 2, 3].map(() => runNode(ROUNDS, [server.url, untrusted.ca])));
    for (const { code, output } of runs) {
      expect(output).not.toMatch(/Unhandled 'error' event/);
      const summary = /summary sockets=(\d+) errors=(\d+) bare=(\d+)/.exec(output);
      expect(summary, output).not.toBeNull();
      const [, sockets, errors, bare] = summary?.map(Number) ?? [];
      expect(sockets, output).toBeGreaterThanOrEqual(10); // the handshakes really happened...
      expect(errors, output).toBeGreaterThanOrEqual(10); // ...and really failed
      expect(bare, output).toBe(0);
      // Every round's call was served (on the mirror: the registry never reached Redis).
      expect(output.match(/^round \d+ ok true$/gm), output).toHaveLength(10);
      expect(code, output).toBe(0);
    }
  });
});

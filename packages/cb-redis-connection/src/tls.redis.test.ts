import { createTlsMaterial, type RedisServer, startRedis, waitFor } from '@xnai/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisManagerError } from './errors/redis-manager-error.js';
import type { ConnectionErrorEvent, FallbackEnteredEvent } from './events.js';
import { RedisConnectionManager } from './redis-connection-manager.js';
import { startChild, writeChildScript } from './testing/child-process.js';

const managers: RedisConnectionManager[] = [];
function manage(manager: RedisConnectionManager): RedisConnectionManager {
  managers.push(manager);
  return manager;
}
afterEach(async () => {
  await Promise.all(managers.splice(0).map((manager) => manager.disconnect()));
});

/** Slack on top of a computed bound, for a loaded 2-core machine. */
const LOAD_MARGIN_MS = 1_000;

describe('TLS (rediss://)', () => {
  let tlsRedis: RedisServer;
  let plainRedis: RedisServer;
  beforeAll(async () => {
    [tlsRedis, plainRedis] = await Promise.all([
      startRedis({ tls: true }),
      startRedis({ controllable: true }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([tlsRedis?.stop(), plainRedis?.stop()]);
  });

  it('connects with the server’s CA in tls.ca, runs commands and Pub/Sub', async () => {
    const ca = tlsRedis.tls?.ca ?? '';
    const manager = manage(new RedisConnectionManager({ url: tlsRedis.url, tls: { ca } }));
    expect(await manager.connect()).toBe(true);
    await manager.execute((client) => client.set('over-tls', 'yes'));
    expect(await manager.execute((client) => client.get('over-tls'))).toBe('yes');
    const received: string[] = [];
    manager.subscribe('tls-events', (message) => received.push(message));
    await waitFor(
      async () => (await manager.execute((client) => client.publish('tls-events', 'hello'))) === 1,
    );
    await waitFor(() => received.includes('hello'));
    expect(await manager.getHealthStatus()).toMatchObject({ connected: true, fallbackMode: false });
    // servername and rejectUnauthorized reach Node's TLS: a name the certificate lacks is refused.
    const wrongName = manage(
      new RedisConnectionManager({ url: tlsRedis.url, tls: { ca, servername: 'not-the-server.example' } }),
    );
    await expect(wrongName.connect()).rejects.toMatchObject({
      name: 'RedisTlsError',
      failure: 'certificate',
      tlsCode: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
    const unchecked = manage(
      new RedisConnectionManager({ url: tlsRedis.url, tls: { rejectUnauthorized: false } }),
    );
    expect(await unchecked.connect()).toBe(true);
  });

  it('an untrusted CA never connects and says so: RedisTlsError, fallback reason tls_failed, lastError', async () => {
    using untrusted = createTlsMaterial();
    const manager = manage(new RedisConnectionManager({ url: tlsRedis.url, tls: { ca: untrusted.ca } }));
    const entered: FallbackEnteredEvent[] = [];
    const errors: ConnectionErrorEvent[] = [];
    manager.onFallbackEntered((event) => entered.push(event));
    manager.onError((event) => errors.push(event));
    manager.subscribe('never', () => {});
    const started = performance.now();
    const error = await manager.connect().catch((caught: unknown) => caught);
    expect(performance.now() - started).toBeLessThan(LOAD_MARGIN_MS); // no 3-attempt wait for a bad certificate
    expect(RedisManagerError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({
      name: 'RedisTlsError',
      code: 'ERR_REDIS_TLS',
      failure: 'certificate',
      tlsCode: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
    expect((error as Error).message).toMatch(/check tls\.ca/);
    expect(entered.map((event) => event.reason)).toEqual(['tls_failed']);
    expect(errors.some((event) => event.error.code === 'ERR_REDIS_TLS')).toBe(true);
    expect(await manager.getHealthStatus()).toMatchObject({
      connected: false,
      fallbackMode: true,
      mode: 'fallback',
      lastError: { code: 'ERR_REDIS_TLS' },
    });
    // Retries run in the background (first after 1 s) and still fail; connect() keeps saying why.
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    expect(manager.isConnected).toBe(false);
    await expect(manager.connect()).rejects.toMatchObject({ name: 'RedisTlsError' });
  });

  it('10 create-connect-disconnect rounds at random 20–200 ms: no socket ever without an error listener, exit 0', async () => {
    using untrusted = createTlsMaterial();
    // What a registry does: connect(), subscribe() at once (a subscriber connection that retries its
    // handshake), and a cleanup shortly after. The child watches every TLS socket: after each 'error'
    // it emits, and after each disconnect(), every socket must still have an 'error' listener, even
    // a destroyed one. ioredis listens with `once`, and a destroyed TLS socket can emit again (the
    // server's "decode error" alert after an end() during the handshake): that crashed the process.
    const script = writeChildScript(
      'tls-rounds.mjs',
      `
import tls from 'node:tls';
const sockets = new Set();
let errors = 0;
let bare = 0;
const emit = tls.TLSSocket.prototype.emit;
tls.TLSSocket.prototype.emit = function (name, ...args) {
  sockets.add(this);
  const result = emit.call(this, name, ...args);
  if (name === 'error') {
    errors += 1;
    if (this.listenerCount('error') === 0) bare += 1;
  }
  return result;
};
const { RedisConnectionManager } = await import('./index.js');
const [url, ca] = process.argv.slice(2);
for (let round = 0; round < 10; round += 1) {
  const manager = new RedisConnectionManager({ url, tls: { ca } });
  const connected = manager.connect().catch((error) => error.name);
  manager.subscribe('events', () => {});
  await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 180));
  await manager.disconnect();
  for (const socket of sockets) if (socket.listenerCount('error') === 0) bare += 1;
  process.stdout.write('round ' + round + ' ' + (await connected) + '\\n');
}
await new Promise((resolve) => setTimeout(resolve, 50));
process.stdout.write('summary sockets=' + sockets.size + ' errors=' + errors + ' bare=' + bare + '\\n');
`,
    );
    const children = [1, 2].map(() => startChild(script, [tlsRedis.url, untrusted.ca]));
    const exits = await Promise.all(children.map((child) => child.exited));
    for (const [index, child] of children.entries()) {
      const output = child.output();
      expect(output).not.toMatch(/Unhandled 'error' event/);
      const summary = /summary sockets=(\d+) errors=(\d+) bare=(\d+)/.exec(output);
      expect(summary, output).not.toBeNull();
      const [, sockets, errors, bare] = summary?.map(Number) ?? [];
      expect(sockets).toBeGreaterThanOrEqual(10); // the handshakes really happened...
      expect(errors).toBeGreaterThanOrEqual(10); // ...and really failed
      expect(bare).toBe(0);
      expect(output).toMatch(/round 9 RedisTlsError|round 9 false/);
      expect(exits[index]?.code).toBe(0);
    }
  });

  it('redis:// at the TLS port and rediss:// at a plain port fail cleanly, within the attempt budget', async () => {
    const connectionTimeoutMs = 300;
    // Three attempts with waits of 1 s and 2 s, each bounded by the adaptive timeout (×1.5 per failure).
    const budgetMs = 3_000 + connectionTimeoutMs * (1 + 1.5 + 2.25);
    const plainAtTls = manage(
      new RedisConnectionManager({ host: tlsRedis.host, port: tlsRedis.port, connectionTimeoutMs }),
    );
    const tlsAtPlain = manage(
      new RedisConnectionManager({
        url: `rediss://${plainRedis.host}:${plainRedis.port}`,
        connectionTimeoutMs,
      }),
    );
    const settle = async (manager: RedisConnectionManager) => {
      const started = performance.now();
      const result = await manager.connect().catch((error: unknown) => error);
      return { result, ms: performance.now() - started };
    };
    const [plain, secure] = await Promise.all([settle(plainAtTls), settle(tlsAtPlain)]);
    console.info(
      `[figures] protocol mismatch: redis:// at TLS port settled in ${plain.ms.toFixed(0)} ms, rediss:// at plain port in ${secure.ms.toFixed(0)} ms (budget ${budgetMs} ms)`,
    );
    for (const { result, ms } of [plain, secure]) {
      expect(result).toBe(false);
      expect(ms).toBeLessThan(budgetMs + LOAD_MARGIN_MS);
    }
    for (const manager of [plainAtTls, tlsAtPlain]) {
      expect(await manager.getHealthStatus()).toMatchObject({ mode: 'fallback', fallbackMode: true });
    }
    // A plain-text server never answers a ClientHello: each handshake runs into the connection timeout.
    expect(secure.ms).toBeGreaterThanOrEqual(3_000 + connectionTimeoutMs);
  });
});

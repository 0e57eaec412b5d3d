import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy } from './fault-proxy.js';
import { hasContainerRuntime, type RedisServer, startRedis } from './redis-server.js';
import { createTlsMaterial } from './tls-material.js';
import { waitFor } from './wait-for.js';

/** Minimal RESP client over a raw socket, so the harness is tested without the code it tests. */
function rawClient(port: number): { socket: Socket; send(line: string): Promise<string>; events: string[] } {
  const socket = connect({ host: '127.0.0.1', port });
  const events: string[] = [];
  let buffer = '';
  let waiter: ((reply: string) => void) | undefined;
  socket.on('data', (chunk) => {
    buffer += chunk.toString();
    const end = buffer.indexOf('\r\n');
    if (end !== -1 && waiter) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const resolve = waiter;
      waiter = undefined;
      resolve(line);
    }
  });
  socket.on('error', (error: NodeJS.ErrnoException) => events.push(`error:${error.code}`));
  socket.on('end', () => events.push('end'));
  socket.on('close', () => events.push('close'));
  return {
    socket,
    events,
    send(line) {
      return new Promise((resolve) => {
        waiter = resolve;
        socket.write(`${line}\r\n`);
      });
    },
  };
}

describe('startRedis (process backend)', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ controllable: true });
  });
  afterAll(() => redis.stop());

  it('runs on a port below 32768 and answers', async () => {
    expect(redis.port).toBeLessThan(32768);
    const client = rawClient(redis.port);
    expect(await client.send('PING')).toBe('+PONG');
    client.socket.destroy();
  });

  it('pause freezes the server and resume thaws it', async () => {
    const client = rawClient(redis.port);
    expect(await client.send('PING')).toBe('+PONG');
    await redis.pause();
    let answered = false;
    const reply = client.send('PING').then((line) => {
      answered = true;
      return line;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(answered).toBe(false);
    await redis.resume();
    expect(await reply).toBe('+PONG');
    client.socket.destroy();
  });

  it('kill ends connections and restart serves on the same port', async () => {
    const port = redis.port;
    const client = rawClient(port);
    expect(await client.send('SET k v')).toBe('+OK');
    const pid = redis.pid;
    await redis.kill();
    await waitFor(() => client.events.includes('close'), { timeoutMs: 2000 });
    await redis.restart();
    expect(redis.port).toBe(port);
    expect(redis.pid).not.toBe(pid);
    const again = rawClient(port);
    // persistence is off: the restarted server starts empty
    expect(await again.send('GET k')).toBe('$-1');
    again.socket.destroy();
  });

  it('sets a password on request', async () => {
    await using secured = await startRedis({ password: 's3cret' });
    expect(secured.url).toContain(':s3cret@');
    const client = rawClient(secured.port);
    expect(await client.send('GET x')).toMatch(/^-NOAUTH/);
    expect(await client.send('AUTH s3cret')).toBe('+OK');
    client.socket.destroy();
  });
});

describe('startRedis({ tls: true })', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ tls: true });
  });
  afterAll(() => redis.stop());

  /** Opens a TLS socket and resolves with the first reply line to PING, or the error code. */
  function tlsPing(ca: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = tlsConnect({ host: redis.host, port: redis.port, ca, servername: 'localhost' });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        socket.destroy();
        resolve(`error:${error.code}`);
      });
      socket.once('secureConnect', () => socket.write('PING\r\n'));
      socket.once('data', (chunk) => {
        socket.destroy();
        resolve(chunk.toString().trim());
      });
    });
  }

  it('serves TLS only, on a rediss:// URL, to clients that trust its CA', async () => {
    expect(redis.url).toBe(`rediss://127.0.0.1:${redis.port}`);
    expect(redis.tls?.ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(await tlsPing(redis.tls?.ca ?? '')).toBe('+PONG');
    using other = createTlsMaterial();
    expect(await tlsPing(other.ca)).toBe('error:SELF_SIGNED_CERT_IN_CHAIN');
    // No plain-text port: a plain PING gets no +PONG.
    const plain = rawClient(redis.port);
    const reply = await Promise.race([
      plain.send('PING'),
      waitFor(() => plain.events.includes('close'), { timeoutMs: 2000 }).then(() => 'closed'),
    ]);
    expect(reply).not.toBe('+PONG');
    plain.socket.destroy();
  });

  it('removes its certificates on stop', async () => {
    const server = await startRedis({ tls: true });
    const directory = server.tls?.directory ?? '';
    expect(existsSync(directory)).toBe(true);
    await server.stop();
    expect(existsSync(directory)).toBe(false);
  });
});

describe('startFaultProxy', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ controllable: true });
  });
  afterAll(() => redis.stop());

  it('passes, delays, blackholes, resets and closes', async () => {
    await using proxy = await startFaultProxy({ target: redis });
    expect(proxy.port).toBeLessThan(32768);
    const client = rawClient(proxy.port);
    expect(await client.send('PING')).toBe('+PONG');

    proxy.setMode({ type: 'latency', latencyMs: 150 });
    let started = performance.now();
    expect(await client.send('PING')).toBe('+PONG');
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);

    proxy.setMode('blackhole');
    let answered = false;
    const held = client.send('PING').then((line) => {
      answered = true;
      return line;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(answered).toBe(false);
    proxy.setMode('pass');
    started = performance.now();
    expect(await held).toBe('+PONG');

    proxy.setMode('reset');
    await waitFor(() => client.events.includes('close'), { timeoutMs: 1000 });
    expect(client.events).toContain('error:ECONNRESET');

    const refused = rawClient(proxy.port);
    await waitFor(() => refused.events.includes('close'), { timeoutMs: 1000 });

    proxy.setMode('close');
    const closed = rawClient(proxy.port);
    await waitFor(() => closed.events.includes('end'), { timeoutMs: 1000 });
    expect(closed.events.some((event) => event.startsWith('error'))).toBe(false);

    proxy.setMode('pass');
    const fresh = rawClient(proxy.port);
    expect(await fresh.send('PING')).toBe('+PONG');
    fresh.socket.destroy();
  });

  it('holds a client’s FIN while blackholed, as a partition would, and passes it on afterwards', async () => {
    await using proxy = await startFaultProxy({ target: redis });
    const client = rawClient(proxy.port);
    expect(await client.send('PING')).toBe('+PONG');
    proxy.setMode('blackhole');
    client.socket.end();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(client.events).toEqual([]); // no FIN back, no close
    proxy.setMode('pass');
    await waitFor(() => client.events.includes('close'), { timeoutMs: 2000 });
    expect(client.events).toContain('end');
  });

  it('accepts and holds connections while blackholed, even with Redis down', async () => {
    await using proxy = await startFaultProxy({ target: redis, mode: { type: 'blackhole' } });
    const client = rawClient(proxy.port);
    await waitFor(() => proxy.connectionCount === 1, { timeoutMs: 1000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(client.events).toEqual([]);
    client.socket.destroy();
  });
});

describe('startRedis without a usable backend', () => {
  it('says how to get Redis', async () => {
    const saved = process.env.REDIS_URL;
    delete process.env.REDIS_URL;
    try {
      await expect(startRedis({ backend: 'external' })).rejects.toThrow(
        /REDIS_URL=redis:\/\/host:port.*Docker or Podman.*redis-server on PATH/,
      );
    } finally {
      if (saved !== undefined) process.env.REDIS_URL = saved;
    }
  });
});

describe('startRedis with a container runtime named but not answering', () => {
  it('asks Testcontainers, which fails fast, and falls back to redis-server from PATH', async () => {
    const saved = { host: process.env.DOCKER_HOST, url: process.env.REDIS_URL };
    process.env.DOCKER_HOST = 'tcp://127.0.0.1:1';
    delete process.env.REDIS_URL;
    try {
      const started = performance.now();
      expect(await hasContainerRuntime({ refresh: true })).toBe(false);
      // Testcontainers 12 gives up on an unreachable runtime at once (about 0.3 s here), not after a timeout.
      expect(performance.now() - started).toBeLessThan(10_000);
      const server = await startRedis();
      expect(server.backend).toBe('process');
      await server.stop();
    } finally {
      if (saved.host === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved.host;
      if (saved.url !== undefined) process.env.REDIS_URL = saved.url;
      await hasContainerRuntime({ refresh: true });
    }
    // Above the 10 s bound asserted inside (vitest's default of 5 s cut it short under CPU load, where
    // loading Testcontainers alone takes seconds).
  }, 30_000);
});

describe('waitFor', () => {
  it('returns the first truthy value and times out with the condition named', async () => {
    let calls = 0;
    expect(await waitFor(() => (++calls >= 3 ? calls : 0), { intervalMs: 1 })).toBe(3);
    await expect(waitFor(() => false, { timeoutMs: 30, message: 'never' })).rejects.toThrow(
      'waitFor: never not met within 30 ms',
    );
  });
});

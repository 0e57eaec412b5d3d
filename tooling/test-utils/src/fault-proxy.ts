import { type AddressInfo, createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

/**
 * What the proxy does to traffic.
 * - `pass`: bytes flow both ways.
 * - `latency`: every chunk from Redis to the client is delayed by `latencyMs` plus up to `jitterMs`
 *   (order kept), so each round trip grows by that much; client-to-Redis bytes flow at once.
 * - `blackhole`: connections are accepted and held, no byte goes through either way (bytes are
 *   kept and delivered when the mode changes back, as TCP retransmission would after a partition).
 *   A client's FIN is held too: a client that ends its socket gets no FIN back, as in a real
 *   partition, until the mode changes.
 * - `reset`: open connections are reset (RST) and new ones are reset on accept.
 * - `close`: open connections are closed (FIN) and new ones are closed on accept.
 */
export type FaultMode =
  | { readonly type: 'pass' }
  | { readonly type: 'latency'; readonly latencyMs: number; readonly jitterMs?: number }
  | { readonly type: 'blackhole' }
  | { readonly type: 'reset' }
  | { readonly type: 'close' };

/** Options of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** Where to forward to; a {@link RedisServer} fits. With `url`, the proxy offers the same URL rewritten to itself. */
  target: { readonly host: string; readonly port: number; readonly url?: string };
  /** Initial mode. @default { type: 'pass' } */
  mode?: FaultMode;
}

/** A TCP proxy between a client and Redis that injects network faults on demand. */
export interface FaultProxy extends AsyncDisposable {
  readonly host: string;
  readonly port: number;
  /** The target URL with host and port replaced by the proxy's (credentials kept). */
  readonly url: string;
  readonly mode: FaultMode;
  /** Client connections currently open through the proxy. */
  readonly connectionCount: number;
  setMode(mode: FaultMode | 'pass' | 'blackhole' | 'reset' | 'close'): void;
  /** Closes the listener and every connection. Idempotent. */
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  upstream: Socket | undefined;
  /** Held while blackholed. */
  readonly heldUp: Buffer[];
  readonly heldDown: Buffer[];
  /** The client sent FIN while blackholed; forwarded when the mode changes. */
  heldEnd: boolean;
  readonly timers: Set<NodeJS.Timeout>;
  lastDownDue: number;
  closed: boolean;
}

function listenOnce(server: Server, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve(false);
      else reject(error);
    };
    server.once('error', onError);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      server.off('error', onError);
      resolve(true);
    });
  });
}

// Port 0 on Linux picks from the ephemeral range (>= 32768); pick below it ourselves.
async function listenBelowEphemeralRange(server: Server): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    if (await listenOnce(server, 10_000 + Math.floor(Math.random() * 22_767))) return;
  }
  throw new Error('startFaultProxy: no free port below 32768');
}

/**
 * Starts a TCP proxy on 127.0.0.1 in front of `target`. Point the client at `proxy.url` (or
 * `proxy.host`/`proxy.port`) and switch faults with `setMode`.
 * @example
 * const proxy = await startFaultProxy({ target: redis });
 * proxy.setMode({ type: 'latency', latencyMs: 100 });
 * proxy.setMode('blackhole');
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const { target } = options;
  let mode: FaultMode = options.mode ?? { type: 'pass' };
  const pairs = new Set<Pair>();
  let closing: Promise<void> | undefined;

  const destroyPair = (pair: Pair, how: 'reset' | 'close' | 'destroy') => {
    if (pair.closed) return;
    pair.closed = true;
    pairs.delete(pair);
    for (const timer of pair.timers) clearTimeout(timer);
    pair.timers.clear();
    if (how === 'reset') {
      pair.client.resetAndDestroy();
      pair.upstream?.resetAndDestroy();
    } else if (how === 'close') {
      pair.client.end();
      pair.upstream?.end();
      // A peer that never answers the FIN must not keep the sockets open.
      setTimeout(() => {
        pair.client.destroy();
        pair.upstream?.destroy();
      }, 1000).unref();
    } else {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
  };

  // Forwards the client's FIN; without an upstream, the client gets its FIN back at once.
  const endUpstream = (pair: Pair) => {
    if (pair.upstream) pair.upstream.end();
    else destroyPair(pair, 'close');
  };

  const ensureUpstream = (pair: Pair): Socket => {
    if (pair.upstream) return pair.upstream;
    const upstream = tcpConnect({ host: target.host, port: target.port });
    upstream.setNoDelay(true);
    pair.upstream = upstream;
    upstream.on('data', (chunk: Buffer) => sendDown(pair, chunk));
    upstream.on('end', () => {
      if (!pair.closed) destroyPair(pair, 'close');
    });
    upstream.on('error', () => destroyPair(pair, 'destroy'));
    upstream.on('close', () => destroyPair(pair, 'destroy'));
    return upstream;
  };

  const sendUp = (pair: Pair, chunk: Buffer) => {
    if (pair.closed) return;
    if (mode.type === 'blackhole') {
      pair.heldUp.push(chunk);
      return;
    }
    ensureUpstream(pair).write(chunk);
  };

  const sendDown = (pair: Pair, chunk: Buffer) => {
    if (pair.closed) return;
    if (mode.type === 'blackhole') {
      pair.heldDown.push(chunk);
      return;
    }
    if (mode.type === 'latency') {
      const jitter = mode.jitterMs === undefined ? 0 : Math.random() * mode.jitterMs;
      const now = performance.now();
      // Never overtake an earlier chunk: the stream must stay in order.
      const due = Math.max(now + mode.latencyMs + jitter, pair.lastDownDue);
      pair.lastDownDue = due;
      const timer = setTimeout(() => {
        pair.timers.delete(timer);
        if (!pair.closed) pair.client.write(chunk);
      }, due - now);
      pair.timers.add(timer);
      return;
    }
    pair.client.write(chunk);
  };

  // allowHalfOpen: a client's FIN must not be answered by Node on its own (see `blackhole`).
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    client.setNoDelay(true);
    const pair: Pair = {
      client,
      upstream: undefined,
      heldUp: [],
      heldDown: [],
      heldEnd: false,
      timers: new Set(),
      lastDownDue: 0,
      closed: false,
    };
    pairs.add(pair);
    client.on('error', () => destroyPair(pair, 'destroy'));
    client.on('close', () => destroyPair(pair, 'destroy'));
    client.on('end', () => {
      if (mode.type === 'blackhole') pair.heldEnd = true;
      else endUpstream(pair);
    });
    if (mode.type === 'reset') {
      destroyPair(pair, 'reset');
      return;
    }
    if (mode.type === 'close') {
      destroyPair(pair, 'close');
      return;
    }
    client.on('data', (chunk: Buffer) => sendUp(pair, chunk));
    if (mode.type !== 'blackhole') ensureUpstream(pair);
  });

  await listenBelowEphemeralRange(server);
  const { port } = server.address() as AddressInfo;
  const host = '127.0.0.1';

  let url = `redis://${host}:${port}`;
  if (target.url !== undefined) {
    const rewritten = new URL(target.url);
    rewritten.hostname = host;
    rewritten.port = String(port);
    url = rewritten.toString();
  }

  const proxy: FaultProxy = {
    host,
    port,
    url,
    get mode() {
      return mode;
    },
    get connectionCount() {
      return pairs.size;
    },
    setMode(next) {
      mode = typeof next === 'string' ? { type: next } : next;
      for (const pair of [...pairs]) {
        switch (mode.type) {
          case 'reset':
          case 'close':
            destroyPair(pair, mode.type);
            break;
          case 'blackhole':
            break;
          case 'pass':
          case 'latency': {
            const up = pair.heldUp.splice(0);
            const down = pair.heldDown.splice(0);
            for (const chunk of up) sendUp(pair, chunk);
            if (up.length === 0 && !pair.upstream && !pair.heldEnd) ensureUpstream(pair);
            for (const chunk of down) sendDown(pair, chunk);
            if (pair.heldEnd) {
              pair.heldEnd = false;
              endUpstream(pair);
            }
            break;
          }
          default: {
            const unknown: never = mode;
            throw new TypeError(`unknown fault mode ${JSON.stringify(unknown)}`);
          }
        }
      }
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const pair of [...pairs]) destroyPair(pair, 'destroy');
        server.close(() => resolve());
      });
      return closing;
    },
    [Symbol.asyncDispose]() {
      return proxy.close();
    },
  };
  return proxy;
}

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { getFreePort } from './free-port.js';
import { createTlsMaterial, type TlsMaterial } from './tls-material.js';

/** Where the Redis of a {@link RedisServer} comes from. */
export type RedisBackend = 'external' | 'container' | 'process';

/** Options of {@link startRedis}. */
export interface StartRedisOptions {
  /**
   * The test injects faults (kill, pause, restart), so it needs a Redis it owns: `REDIS_URL` is ignored.
   * @default false
   */
  controllable?: boolean;
  /** Starts the server with `requirepass`. Implies a Redis this harness owns. */
  password?: string;
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '1mb']`. Implies a Redis this harness owns. */
  args?: readonly string[];
  /** Forces one backend instead of the REDIS_URL → Testcontainers → PATH order. */
  backend?: RedisBackend;
  /**
   * Serves TLS only: a fresh CA and server certificate are generated with `openssl` (see
   * {@link createTlsMaterial}) and `redis-server` runs with `--port 0 --tls-port <port>` and
   * `--tls-auth-clients no` (no client certificate needed). The URL is `rediss://`; trust the server
   * with `server.tls.ca`. Needs `redis-server` from PATH built with TLS (the process backend).
   * @default false
   */
  tls?: boolean;
}

/** A running Redis plus the controls tests use to break it. */
export interface RedisServer extends AsyncDisposable {
  readonly backend: RedisBackend;
  /** `redis://host:port` (with the password when one was set); `rediss://` when started with `tls`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Process id of `redis-server` (process backend only). */
  readonly pid: number | undefined;
  /** The CA and server certificate when started with `tls` (removed by `stop()`), else undefined. */
  readonly tls: TlsMaterial | undefined;
  /** SIGKILL: the server dies without closing its sockets cleanly. Resolves once it is gone. */
  kill(): Promise<void>;
  /** SIGSTOP (container: freeze): sockets stay open, nothing answers. */
  pause(): Promise<void>;
  /** SIGCONT (container: unfreeze). */
  resume(): Promise<void>;
  /** Starts the server again on the same port (killing it first if it still runs); resolves once it answers PING. */
  restart(): Promise<void>;
  /** Stops the server for good. Idempotent. */
  stop(): Promise<void>;
}

const HOW_TO_GET_REDIS =
  'Set REDIS_URL=redis://host:port to use an existing Redis, start a Docker or Podman daemon so ' +
  'Testcontainers can run redis:7, or install redis-server on PATH (for example `apt-get install redis-server`).';

const READY_TIMEOUT_MS = 10_000;

const livePids = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last line of defence: a test that crashes before afterAll must not leave redis-servers behind.
  process.once('exit', () => {
    for (const pid of livePids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/**
 * Sends PING over a raw socket (TLS with `ca` when given); true once Redis answers (`+PONG`, or
 * `-NOAUTH` with requirepass).
 */
function pingOnce(host: string, port: number, ca?: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket: Socket =
      ca === undefined ? connect({ host, port }) : tlsConnect({ host, port, ca, servername: 'localhost' });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    // `on`, not `once`: a TLS socket can emit a second error while it is torn down.
    socket.on('error', () => done(false));
    socket.once(ca === undefined ? 'connect' : 'secureConnect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'));
    });
  });
}

async function waitUntilAnswering(
  host: string,
  port: number,
  isDead: () => string | undefined,
  ca?: string,
): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    const dead = isDead();
    if (dead !== undefined) throw new Error(dead);
    if (await pingOnce(host, port, ca)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`startRedis: Redis on ${host}:${port} did not answer PING within ${READY_TIMEOUT_MS} ms`);
}

function formatUrl(host: string, port: number, password: string | undefined, tls = false): string {
  const auth = password === undefined ? '' : `:${encodeURIComponent(password)}@`;
  return `${tls ? 'rediss' : 'redis'}://${auth}${host}:${port}`;
}

// ---------------------------------------------------------------------------------------------
// process backend

let redisServerOnPath: boolean | undefined;

function findRedisServer(): boolean {
  if (redisServerOnPath !== undefined) return redisServerOnPath;
  const directories = (process.env.PATH ?? '').split(':').filter(Boolean);
  redisServerOnPath = directories.some((directory) => existsSync(join(directory, 'redis-server')));
  return redisServerOnPath;
}

class ProcessRedis implements RedisServer {
  readonly backend = 'process';
  readonly host = '127.0.0.1';
  #port = 0;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = '';
  #stopped = false;
  readonly #options: StartRedisOptions;
  readonly tls: TlsMaterial | undefined;

  constructor(options: StartRedisOptions) {
    this.#options = options;
    this.tls = options.tls === true ? createTlsMaterial() : undefined;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return formatUrl(this.host, this.#port, this.#options.password, this.tls !== undefined);
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async start(): Promise<void> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      this.#port = await getFreePort();
      try {
        await this.#spawn();
        return;
      } catch (error) {
        lastError = error;
      }
    }
    this.tls?.remove();
    throw lastError;
  }

  async #spawn(): Promise<void> {
    const tls = this.tls;
    const listen =
      tls === undefined
        ? ['--port', String(this.#port)]
        : [
            '--port',
            '0',
            '--tls-port',
            String(this.#port),
            '--tls-cert-file',
            tls.certPath,
            '--tls-key-file',
            tls.keyPath,
            '--tls-ca-cert-file',
            tls.caPath,
            '--tls-auth-clients',
            'no',
          ];
    const args = [
      ...listen,
      '--bind',
      this.host,
      '--save',
      '',
      '--appendonly',
      'no',
      '--enable-debug-command',
      'local',
      '--protected-mode',
      'no',
      '--loglevel',
      'warning',
      '--dir',
      tmpdir(),
      ...(this.#options.password === undefined ? [] : ['--requirepass', this.#options.password]),
      ...(this.#options.args ?? []),
    ];
    this.#output = '';
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    let exitReason: string | undefined;
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitReason = `startRedis: redis-server on port ${this.#port} exited (code ${code}, signal ${signal}): ${this.#output.trim().slice(-500)}`;
        if (child.pid !== undefined) livePids.delete(child.pid);
        resolve();
      });
      child.once('error', (error) => {
        exitReason = `startRedis: could not spawn redis-server (${error.message}). ${HOW_TO_GET_REDIS}`;
        resolve();
      });
    });
    const collect = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString()).slice(-4000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    if (child.pid !== undefined) {
      livePids.add(child.pid);
      installExitHook();
    }
    await waitUntilAnswering(this.host, this.#port, () => exitReason, this.tls?.ca);
  }

  #signal(signal: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    if (pid === undefined || this.#child?.exitCode !== null || this.#child.signalCode !== null) {
      throw new Error(`startRedis: cannot send ${signal}, redis-server is not running`);
    }
    process.kill(pid, signal);
  }

  #isRunning(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async kill(): Promise<void> {
    this.#signal('SIGKILL');
    await this.#exited;
  }

  async pause(): Promise<void> {
    this.#signal('SIGSTOP');
  }

  async resume(): Promise<void> {
    this.#signal('SIGCONT');
  }

  async restart(): Promise<void> {
    if (this.#stopped) throw new Error('startRedis: restart() after stop()');
    if (this.#isRunning()) await this.kill();
    let lastError: unknown;
    // The old socket may linger for a moment after SIGKILL; retry the bind on the same port.
    for (let attempt = 0; attempt < 20; attempt += 1) {
      try {
        await this.#spawn();
        return;
      } catch (error) {
        lastError = error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    throw lastError;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#isRunning()) {
      const pid = this.#child?.pid;
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
      await this.#exited;
    }
    this.tls?.remove();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// container backend (Testcontainers 11)

let containerRuntime: Promise<boolean> | undefined;

function containerSocketCandidates(): string[] {
  const runtimeDirectory = process.env.XDG_RUNTIME_DIR;
  return [
    '/var/run/docker.sock',
    join(homedir(), '.docker/run/docker.sock'),
    join(homedir(), '.docker/desktop/docker.sock'),
    '/run/podman/podman.sock',
    ...(runtimeDirectory === undefined ? [] : [join(runtimeDirectory, 'podman/podman.sock')]),
  ];
}

/**
 * True when a container runtime answers. Cached per process (`refresh` asks again); no socket and no
 * DOCKER_HOST means no, without loading Testcontainers.
 */
export function hasContainerRuntime(options: { refresh?: boolean } = {}): Promise<boolean> {
  if (options.refresh === true) containerRuntime = undefined;
  containerRuntime ??= (async () => {
    const hinted =
      process.env.DOCKER_HOST !== undefined || containerSocketCandidates().some((path) => existsSync(path));
    if (!hinted) return false;
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      await getContainerRuntimeClient();
      return true;
    } catch {
      return false;
    }
  })();
  return containerRuntime;
}

interface DockerContainer {
  kill(options: { signal: string }): Promise<unknown>;
  pause(): Promise<unknown>;
  unpause(): Promise<unknown>;
  start(): Promise<unknown>;
}

async function startContainerRedis(options: StartRedisOptions): Promise<RedisServer> {
  const { GenericContainer, getContainerRuntimeClient } = await import('testcontainers');
  const port = await getFreePort();
  const command = [
    'redis-server',
    '--save',
    '',
    '--appendonly',
    'no',
    // Connections arrive through the runtime's port forwarding, so "local" would refuse DEBUG.
    '--enable-debug-command',
    'yes',
    ...(options.password === undefined ? [] : ['--requirepass', options.password]),
    ...(options.args ?? []),
  ];
  const started = await new GenericContainer(process.env.REDIS_IMAGE ?? 'redis:7-alpine')
    .withCommand(command)
    // A fixed host port survives restarts, so clients can reconnect to the same address.
    .withExposedPorts({ container: 6379, host: port })
    .start();
  const host = started.getHost();
  const runtime = await getContainerRuntimeClient();
  const container = runtime.container.getById(started.getId()) as unknown as DockerContainer;
  await waitUntilAnswering(host, port, () => undefined);
  let stopped = false;
  const server: RedisServer = {
    backend: 'container',
    url: formatUrl(host, port, options.password),
    host,
    port,
    pid: undefined,
    tls: undefined,
    async kill() {
      await container.kill({ signal: 'SIGKILL' });
    },
    async pause() {
      await container.pause();
    },
    async resume() {
      await container.unpause();
    },
    async restart() {
      try {
        await container.kill({ signal: 'SIGKILL' });
      } catch {
        // not running
      }
      await container.start();
      await waitUntilAnswering(host, port, () => undefined);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await started.stop({ timeout: 0 });
    },
    [Symbol.asyncDispose]() {
      return server.stop();
    },
  };
  return server;
}

// ---------------------------------------------------------------------------------------------
// external backend (REDIS_URL)

function externalRedis(url: string): RedisServer {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('startRedis: REDIS_URL is not a valid URL');
  }
  const unavailable = (operation: string) => async () => {
    throw new Error(
      `startRedis: ${operation}() is not available for the Redis at REDIS_URL; use startRedis({ controllable: true })`,
    );
  };
  const server: RedisServer = {
    backend: 'external',
    url,
    host: parsed.hostname,
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    pid: undefined,
    tls: undefined,
    kill: unavailable('kill'),
    pause: unavailable('pause'),
    resume: unavailable('resume'),
    restart: unavailable('restart'),
    async stop() {},
    async [Symbol.asyncDispose]() {},
  };
  return server;
}

/**
 * Starts (or finds) a Redis for a test: `REDIS_URL` when set and the test needs no control over the
 * server; otherwise Testcontainers when a container runtime answers; otherwise `redis-server` from
 * PATH on a free port below 32768 with persistence off and DEBUG enabled for local clients.
 *
 * Always stop it in `afterAll` (or `await using`); spawned servers are also SIGKILLed when the test
 * process exits.
 *
 * @throws Error explaining how to get Redis when none of the three is possible.
 * @example
 * const redis = await startRedis({ controllable: true });
 * afterAll(() => redis.stop());
 * await redis.kill();
 * await redis.restart();
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const ownsServer =
    options.controllable === true ||
    options.password !== undefined ||
    options.args !== undefined ||
    options.tls === true;
  const backend = options.tls === true ? (options.backend ?? 'process') : options.backend;
  if (options.tls === true && backend !== 'process') {
    throw new Error(`startRedis: tls needs the process backend (redis-server from PATH), got "${backend}"`);
  }
  const envUrl = process.env.REDIS_URL;
  if (backend === 'external' || (backend === undefined && !ownsServer && envUrl)) {
    if (!envUrl) throw new Error(`startRedis: backend "external" needs REDIS_URL. ${HOW_TO_GET_REDIS}`);
    return externalRedis(envUrl);
  }
  if (backend === 'container' || (backend === undefined && (await hasContainerRuntime()))) {
    return startContainerRedis(options);
  }
  if (!findRedisServer()) {
    throw new Error(`startRedis: no Redis available. ${HOW_TO_GET_REDIS}`);
  }
  const server = new ProcessRedis(options);
  await server.start();
  return server;
}

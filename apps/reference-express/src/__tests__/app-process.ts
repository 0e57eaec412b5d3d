import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built app, as `node dist/main.js` runs it (turbo builds it before the tests). */
export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
export const TOKEN = 'test-admin-token';

/** A process started from a command, with its output kept and watched. */
export interface RunningProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** stdout and stderr so far, line by line. */
  readonly lines: string[];
  readonly stderr: string[];
  /** Resolves with the first output line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Exit code (or signal name) once it exited. */
  readonly exited: Promise<number | string>;
  /** Sends `signal` to the process (or its group) by PID and waits for the exit; SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | string>;
}

/** Runs `command` with `args`; `group`: in its own process group, so `stop` reaches its children too. */
export function run(
  command: string,
  args: readonly string[],
  options: { env: NodeJS.ProcessEnv; cwd?: string; group?: boolean },
): RunningProcess {
  const child = spawn(command, args, {
    env: options.env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.group === true,
  });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const pid = child.pid;
  const lines: string[] = [];
  const stderr: string[] = [];
  const watchers = new Set<{ pattern: RegExp; resolve: (match: RegExpMatchArray) => void }>();
  const take = (target: string[]) => {
    let buffered = '';
    return (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        if (target !== lines) target.push(line);
        for (const watcher of watchers) {
          const match = watcher.pattern.exec(line);
          if (match !== null) {
            watchers.delete(watcher);
            watcher.resolve(match);
          }
        }
      }
    };
  };
  child.stdout?.on('data', take(lines));
  child.stderr?.on('data', take(stderr));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const running: RunningProcess = {
    child,
    pid,
    lines,
    stderr,
    exited,
    waitForLine(pattern, timeoutMs = 30_000) {
      for (const line of lines) {
        const match = pattern.exec(line);
        if (match !== null) return Promise.resolve(match);
      }
      return new Promise((resolve, reject) => {
        const watcher = { pattern, resolve };
        watchers.add(watcher);
        const timer = setTimeout(() => {
          watchers.delete(watcher);
          reject(
            new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${lines.join('\n')}`),
          );
        }, timeoutMs);
        exited.then(() => {
          if (!watchers.has(watcher)) return;
          watchers.delete(watcher);
          clearTimeout(timer);
          reject(new Error(`exited before a line matching ${pattern}; output:\n${lines.join('\n')}`));
        });
        const original = watcher.resolve;
        watcher.resolve = (match) => {
          clearTimeout(timer);
          original(match);
        };
      });
    },
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      const target = options.group === true ? -pid : pid;
      try {
        process.kill(target, signal);
      } catch {
        return exited;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }, graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  return running;
}

/** A started reference app process. */
export interface AppProcess extends RunningProcess {
  readonly url: string;
  readonly instanceId: string;
}

/** Starts `node dist/main.js` with the given environment (plus a free port) and waits until it listens. */
export async function startAppProcess(env: Record<string, string>): Promise<AppProcess> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build the app first (pnpm turbo run build)`);
  const { REDIS_URL: _inherited, ...base } = process.env;
  const started = run(process.execPath, [MAIN], {
    env: { ...base, PORT: '0', HOST: '127.0.0.1', ADMIN_TOKEN: TOKEN, ...env },
  });
  const match = await started.waitForLine(/listening on [^:]+:(\d+)/);
  return {
    ...started,
    url: `http://127.0.0.1:${match[1]}`,
    instanceId: env.INSTANCE_ID ?? '',
  };
}

/** JSON over HTTP, with the admin token unless `token: null`. */
export async function api<T = Record<string, unknown>>(
  base: string,
  path: string,
  options: { method?: string; body?: unknown; token?: string | null } = {},
): Promise<{ status: number; headers: Headers; body: T }> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? TOKEN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(new URL(path, base), {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: the text is the body
  }
  return { status: response.status, headers: response.headers, body: body as T };
}

import { type ChildProcess, fork } from 'node:child_process';

/**
 * A child process driven over IPC. The module must answer `{ ready: true }` once set up, then each
 * `{ id, command, ...args }` with `{ id, ok, result }` or `{ id, ok: false, error }`, and handle a
 * `close` command by releasing everything and letting go of IPC.
 */
export interface IpcWorker {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the time (Date.now()) the process exited. */
  readonly exited: Promise<number>;
  call<T = Record<string, unknown>>(command: string, args?: Record<string, unknown>): Promise<T>;
  /** Sends `close`, waits for the exit, and kills by PID if the process has not exited in 3 s. */
  close(): Promise<void>;
}

/** Forks `modulePath` with `config` as JSON in argv[2] and waits for its ready message. */
export async function startIpcWorker(
  modulePath: string,
  config: Record<string, unknown>,
): Promise<IpcWorker> {
  const child: ChildProcess = fork(modulePath, [JSON.stringify(config)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number>((resolve) => child.once('exit', () => resolve(Date.now())));
  const pending = new Map<number, { resolve: (value: never) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`worker exited early with code ${code}`)));
    child.on(
      'message',
      (message: { ready?: boolean; id?: number; ok?: boolean; result?: never; error?: string }) => {
        if (message.ready) {
          resolve();
          return;
        }
        const entry = message.id === undefined ? undefined : pending.get(message.id);
        if (entry === undefined || message.id === undefined) return;
        pending.delete(message.id);
        if (message.ok) entry.resolve(message.result as never);
        else entry.reject(new Error(message.error));
      },
    );
  });
  const worker: IpcWorker = {
    pid: child.pid ?? -1,
    child,
    exited,
    call<T>(command: string, args: Record<string, unknown> = {}): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (value: never) => void, reject });
        child.send({ id, command, ...args });
      });
    },
    async close(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) await worker.call('close').catch(() => undefined);
      const timer = setTimeout(() => {
        if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
      }, 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
  return worker;
}

/** The p-th percentile (nearest rank) of `values`; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

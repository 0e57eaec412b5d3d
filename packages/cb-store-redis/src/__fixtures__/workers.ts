import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('./breaker-worker.mjs', import.meta.url));

/** A breaker process driven over IPC (see breaker-worker.mjs). */
export interface Worker {
  readonly pid: number;
  call<T = Record<string, unknown>>(command: string, args?: Record<string, unknown>): Promise<T>;
  close(): Promise<void>;
}

export async function startWorker(config: {
  url: string;
  keyPrefix: string;
  clockOffsetMs?: number;
}): Promise<Worker> {
  const child: ChildProcess = fork(WORKER, [JSON.stringify(config)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
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
        const entry = pending.get(message.id ?? -1);
        if (entry === undefined) return;
        pending.delete(message.id ?? -1);
        if (message.ok) entry.resolve(message.result as never);
        else entry.reject(new Error(message.error));
      },
    );
  });
  const call = <T>(command: string, args: Record<string, unknown> = {}): Promise<T> => {
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (value: never) => void, reject });
      child.send({ id, command, ...args });
    });
  };
  return {
    pid: child.pid ?? -1,
    call,
    async close(): Promise<void> {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await call('close').catch(() => undefined);
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('./registry-worker.mjs', import.meta.url));

/** A service process holding one registry, driven over IPC (see registry-worker.mjs). */
export interface Worker {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the time (Date.now()) the process exited. */
  readonly exited: Promise<number>;
  call<T = Record<string, unknown>>(command: string, args?: Record<string, unknown>): Promise<T>;
  close(): Promise<void>;
}

export async function startWorker(config: Record<string, unknown>): Promise<Worker> {
  const child: ChildProcess = fork(WORKER, [JSON.stringify(config)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve: (value: never) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  const exited = new Promise<number>((resolve) => child.once('exit', () => resolve(Date.now())));
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
        const entry = pending.get(message.id ?? -2);
        if (entry === undefined) return;
        pending.delete(message.id ?? -2);
        if (message.ok) entry.resolve(message.result as never);
        else entry.reject(new Error(message.error));
      },
    );
  });
  const worker: Worker = {
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

/** Waits for the unsolicited message with id -1 (sent right before the worker lets go of IPC). */
export function nextArmedMessage(worker: Worker): Promise<{ exitArmedAt: number }> {
  return new Promise((resolve) => {
    const onMessage = (message: { id?: number; result?: { exitArmedAt: number } }) => {
      if (message.id !== -1 || message.result === undefined) return;
      worker.child.off('message', onMessage);
      resolve(message.result);
    };
    worker.child.on('message', onMessage);
  });
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

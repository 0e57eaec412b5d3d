import { fileURLToPath } from 'node:url';
import { type IpcWorker, percentile, startIpcWorker } from '@xnai/test-utils';

const WORKER = fileURLToPath(new URL('./registry-worker.mjs', import.meta.url));

/** A service process holding one registry, driven over IPC (see registry-worker.mjs). */
export type Worker = IpcWorker;

export function startWorker(config: Record<string, unknown>): Promise<Worker> {
  return startIpcWorker(WORKER, config);
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

export { percentile };

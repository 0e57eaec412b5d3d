import { fileURLToPath } from 'node:url';
import { type IpcWorker, startIpcWorker } from '@xnai/test-utils';

const WORKER = fileURLToPath(new URL('./breaker-worker.mjs', import.meta.url));

/** A breaker process driven over IPC (see breaker-worker.mjs). */
export type Worker = IpcWorker;

export function startWorker(config: {
  url: string;
  keyPrefix: string;
  clockOffsetMs?: number;
}): Promise<Worker> {
  return startIpcWorker(WORKER, config);
}

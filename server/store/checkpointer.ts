import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * The worker's code, plain CommonJS so it runs without the TypeScript loader. Its own connection
 * checkpoints the WAL (PASSIVE: writers and readers go on meanwhile), with its own fsyncs.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { timeout: 5000 });
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message) });
  }
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export interface Checkpointer {
  /** Stops the worker (after a checkpoint in progress) and closes its connection. */
  stop(): Promise<void>;
}

/**
 * Checkpoints a WAL database from a worker thread every `intervalMs`. SQLite's automatic
 * checkpoint runs inside the COMMIT that crosses the threshold, on the event loop: copying the
 * pages and two fsyncs, ≈ 5–10 ms on this disk and far more when it is busy, one or two times
 * a second under a stream of boot events; every request in flight waits for it. The caller
 * keeps its own automatic checkpoint as a fallback, at a threshold this worker normally keeps
 * the WAL below. `onError` hears a failed checkpoint (e.g. the file went away).
 */
export function startCheckpointer(file: string, opts: { intervalMs?: number; onError?: (message: string) => void } = {}): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  // Plain node in the worker: no loader flags of the parent (tsx, tap) to start for a CJS snippet.
  const worker = new Worker(WORKER, { eval: true, execArgv: [], workerData: { file, driver, intervalMs: opts.intervalMs ?? 200 } });
  worker.on('message', (m: { error?: string }) => m.error && opts.onError?.(m.error));
  worker.on('error', (err) => opts.onError?.(err.message));
  // A service that is closing must not wait for an idle checkpointer, nor keep the process alive.
  worker.unref();
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    stop: async () => {
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}

/**
 * The main thread's side of the transfer thread: one worker (transfer-worker.ts) runs every
 * transfer, and this side hands it transfers and hears how each one ended. A worker that dies (a
 * crash, out of memory) ends its transfers `failed`; the next transfer starts a new one.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { TransferResult } from './transfer.js';
import type { FromWorker, ToWorker, TransferOrder, TransferWorkerData } from './transfer-worker.js';

export interface TransferThreadOptions {
  /** The worker's code: transfer-worker.ts, or its build beside the service's (bin/build.mjs). */
  entry: URL;
  tickMs: number;
  /** A datagram on a transfer's port that was not a usable ACK or ERROR. */
  onIgnored(): void;
  /** The worker died; its transfers have ended `failed` already. */
  onDeath(err: Error): void;
}

/**
 * The worker's heap holds transfers' state, not their bytes (those are the cache's shared memory
 * or file reads, outside the heap): a few MB for a thousand transfers. A leak there ends the
 * worker, and its transfers, not the service.
 */
const RESOURCE_LIMITS = { maxOldGenerationSizeMb: 64 };

interface Running {
  startedAt: number;
  onEnd(result: TransferResult): void;
}

/**
 * Where a worker's code is. A worker started after a death must not need dist/KEY/ still on disk
 * (bin/build.mjs prunes a build that a newer one replaced): a compiled worker's code is read at
 * start, and written to a private temporary file should its build be gone by then. (A data: URL
 * would need no file, but loader hooks given in NODE_OPTIONS, an APM agent's or tap's, cannot
 * resolve imports from one.) TypeScript (tsx) runs from its source.
 */
class WorkerCode {
  private copy: string | undefined;

  private constructor(
    private readonly entry: URL,
    private readonly code: string | undefined,
  ) {}

  static async read(entry: URL): Promise<WorkerCode> {
    return new WorkerCode(entry, entry.pathname.endsWith('.ts') ? undefined : await readFile(entry, 'utf8'));
  }

  /** What to start a worker from now (at start and after a death: rare, so synchronous). */
  url(): URL {
    if (this.code === undefined || existsSync(this.entry)) return this.entry;
    if (!this.copy) {
      this.copy = join(mkdtempSync(join(tmpdir(), 'kickstand-tftp-')), basename(this.entry.pathname));
      writeFileSync(this.copy, this.code, { mode: 0o600 });
    }
    return pathToFileURL(this.copy);
  }

  remove(): void {
    if (this.copy) rmSync(dirname(this.copy), { recursive: true, force: true });
  }
}

function newWorker(entry: URL, workerData: TransferWorkerData): Worker {
  const options = { workerData, resourceLimits: RESOURCE_LIMITS };
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  return new Worker(`import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`, { ...options, eval: true });
}

export class TransferThread {
  private worker: Worker | undefined;
  private readonly running = new Map<number, Running>();
  private nextId = 1;
  private closeReason: string | undefined;

  private constructor(
    private readonly options: TransferThreadOptions,
    private readonly code: WorkerCode,
  ) {}

  /** Resolves once the first worker runs; rejects when it cannot (a missing build, an error loading it). */
  static async start(options: TransferThreadOptions): Promise<TransferThread> {
    const thread = new TransferThread(options, await WorkerCode.read(options.entry));
    await thread.spawn();
    return thread;
  }

  start(order: TransferOrder, onEnd: (result: TransferResult) => void): void {
    if (!this.worker) void this.spawn();
    const id = this.nextId++;
    this.running.set(id, { startedAt: Date.now(), onEnd });
    const body = order.body;
    // The cache's bytes are shared memory, posted as they are; others (generated, a few kB) are
    // copied to their exact length: a small Buffer is a slice of a pool that posting would copy whole.
    const posted = body.kind === 'memory' && !(body.bytes.buffer instanceof SharedArrayBuffer) ? { ...body, bytes: new Uint8Array(body.bytes) } : body;
    this.worker!.postMessage({ op: 'start', id, order: { ...order, body: posted } } satisfies ToWorker, body.kind === 'file' ? [body.handle] : []);
  }

  /** Ends every running transfer with `reason` (each reported to its onEnd) and stops the worker. */
  async close(reason: string): Promise<void> {
    this.closeReason = reason;
    const worker = this.worker;
    if (worker) {
      worker.ref();
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage({ op: 'close', reason } satisfies ToWorker);
      await exited;
    }
    this.code.remove();
  }

  /** A new worker; the promise says when it is ready, or why it could not start. */
  private spawn(): Promise<void> {
    const worker = newWorker(this.code.url(), { tickMs: this.options.tickMs });
    this.worker = worker;
    let error: Error | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (message: FromWorker) => (message.op === 'ready' ? resolve() : this.received(message)));
      worker.on('error', (err) => (error = err));
      worker.on('exit', (code) => {
        const err = error ?? new Error(`exited with code ${code}`);
        reject(err);
        this.exited(worker, err);
      });
    });
    // The request socket keeps the service alive; a worker that runs must not (one that starts
    // must: start() waits for it). Only start() waits: a later worker that cannot start shows in
    // the ends of its transfers.
    ready.then(() => worker.unref(), () => {});
    return ready;
  }

  private received(message: Exclude<FromWorker, { op: 'ready' }>): void {
    if (message.op === 'ignored') return this.options.onIgnored();
    const running = this.running.get(message.id);
    if (!running) return;
    this.running.delete(message.id);
    running.onEnd(message.result);
  }

  private exited(worker: Worker, err: Error): void {
    if (this.worker === worker) this.worker = undefined;
    const reason = this.closeReason ?? `transfer thread died: ${err.message}`;
    const orphans = [...this.running.values()];
    this.running.clear();
    const now = Date.now();
    for (const running of orphans) running.onEnd({ outcome: 'failed', reason, bytes: 0, ms: now - running.startedAt, retransmissions: 0 });
    if (this.closeReason === undefined) this.options.onDeath(err);
  }
}

/**
 * The transfer thread's code (a worker, see transfer-thread.ts): every running transfer's socket,
 * body and retransmission clock, off the event loop that answers requests, HTTP and DHCP. It
 * imports only what a running transfer needs, so its build is small (bin/build.mjs compiles it
 * on its own, beside the service).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openBody, type BodySource } from './body-source.js';
import { Transfer, type TransferResult, type TransferSetup } from './transfer.js';

/** One transfer as the request side decided it. */
export type TransferOrder = Omit<TransferSetup, 'body' | 'onIgnored' | 'onEnd'> & { body: BodySource };

export type ToWorker = { op: 'start'; id: number; order: TransferOrder } | { op: 'close'; reason: string };

export type FromWorker = { op: 'ready' } | { op: 'ignored' } | { op: 'end'; id: number; result: TransferResult };

export interface TransferWorkerData {
  tickMs: number;
}

const port = parentPort!;
const { tickMs } = workerData as TransferWorkerData;
const transfers = new Map<number, Transfer>();
const IGNORED: FromWorker = { op: 'ignored' };

// One clock for all transfers instead of a timer per packet; fine enough to keep the first retransmission on time.
const clock = setInterval(() => {
  const now = Date.now();
  for (const transfer of transfers.values()) transfer.tick(now);
}, tickMs);

port.on('message', (message: ToWorker) => {
  if (message.op === 'start') {
    const { id, order } = message;
    const transfer = new Transfer({
      ...order,
      body: openBody(order.body),
      onIgnored: () => port.postMessage(IGNORED),
      onEnd: (result) => {
        transfers.delete(id);
        port.postMessage({ op: 'end', id, result } satisfies FromWorker);
      },
    });
    transfers.set(id, transfer);
    transfer.begin();
    return;
  }
  // Closing: every transfer ends (and says so) before the port closes; the thread exits once their sockets and files are closed.
  clearInterval(clock);
  for (const transfer of transfers.values()) transfer.abort(message.reason);
  port.close();
});

port.postMessage({ op: 'ready' } satisfies FromWorker);

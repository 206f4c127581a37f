/**
 * The transfer worker, made to die on cue (thread-death.test.ts): a transfer whose body is the text
 * "throw" throws from the message handler, an uncaught exception; "oom" fills the heap until the
 * worker's resource limits end it. Any other transfer runs as in the real worker, which this is.
 */
import { parentPort } from 'node:worker_threads';
import '../../server/tftp/transfer-worker.js';
import type { ToWorker } from '../../server/tftp/transfer-worker.js';

const hoard: unknown[] = [];
parentPort!.on('message', (message: ToWorker) => {
  if (message.op !== 'start' || message.order.body.kind !== 'memory') return;
  const cue = Buffer.from(message.order.body.bytes).toString();
  if (cue === 'throw') throw new Error('crash on cue');
  if (cue === 'oom') for (;;) hoard.push(new Array(1 << 16).fill({ cue }));
});

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';

/**
 * An I/O error inside a transaction (a full disk, here a file size cap) can make SQLite roll back
 * the whole transaction by itself. What fn writes after that must not be committed on its own, and
 * the transaction must end in StoreUnavailable (a 503), with nothing of it written.
 */
t.test('after SQLite rolls a transaction back on an I/O error, nothing of it is written', async (t) => {
  const child = join(import.meta.dirname, 'io-error-child.ts');
  // ulimit -f counts KiB: 4 MiB for the whole database and its WAL.
  const { stdout } = await promisify(execFile)('sh', ['-c', `ulimit -f 4096 && exec "${process.execPath}" --import tsx "${child}"`], { cwd: process.cwd() });
  const steps = JSON.parse(stdout.trim().split('\n').at(-1)!);
  t.equal(steps.bigWrite, 'StoreUnavailable', 'the write that fails on the I/O error rejects with StoreUnavailable');
  t.equal(steps.laterWrite, 'StoreUnavailable', 'a later write through tx is refused too: its transaction is gone');
  t.equal(steps.transaction, 'StoreUnavailable', 'the transaction rejects with StoreUnavailable');
  t.equal(steps.statusAfter, 'before', 'the status written before the error is not there');
  t.equal(steps.tokenAfter, 'absent', 'nor the token written after it');
  t.equal(steps.writeAfter, 'ok', 'the store takes writes again once there is room');
});

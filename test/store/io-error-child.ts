/**
 * Run by io-error.test.ts in a child process whose file size is capped (ulimit -f): a write that
 * grows the WAL past the cap fails with an I/O error, as on a full disk. Prints one JSON object
 * with what each step did.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MachineStatus } from '../../server/model/status.js';
import { openSqliteStore } from '../../server/store/sqlite.js';

// A write past the cap raises SIGXFSZ, which kills by default; handled, the write fails with EFBIG.
process.on('SIGXFSZ', () => undefined);

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (err: Error) => err.name,
  );
const status = (version: number, reason: string): MachineStatus => ({ machine: 'm1', state: 'registered', netboot: 'local', stateSince: 1, hostKeys: [], version, reason });

const dir = mkdtempSync(join(tmpdir(), 'ks-ioerr-'));
try {
  const store = await openSqliteStore(join(dir, 'kickstand.db'));
  await store.status.put(status(1, 'before'));
  const steps: Record<string, string> = {};
  steps.transaction = await outcome(
    store.transaction(async (tx) => {
      await tx.status.put(status(2, 'in the transaction'));
      // 20 MB: more than the page cache holds, so SQLite writes it to the WAL before the commit.
      steps.bigWrite = await outcome(tx.events.append({ kind: 'dhcp', level: 'info', message: 'x'.repeat(20_000_000) }, 1));
      // A caller that takes a failed write as non-fatal (an event log, say) and goes on:
      steps.laterWrite = await outcome(tx.tokens.put({ token: 'tk', machine: 'm1', installId: 'i1', expiresAt: 1 }));
    }),
  );
  steps.statusAfter = (await store.status.get('m1'))?.reason ?? 'none';
  steps.tokenAfter = (await store.tokens.get('tk')) ? 'present' : 'absent';
  steps.writeAfter = await outcome(store.status.put(status(2, 'after')));
  await store.close();
  process.stdout.write(`${JSON.stringify(steps)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Run by wal-sync.test.ts under strace: opens a SQLite store in a directory of its own (its path
 * first on stdout), then makes writes of each kind (outside a transaction, in one, several at
 * once) and writes `resolved <what>` to stdout as each one resolves, so the trace shows where
 * that happened among the WAL's writes and syncs.
 */
import { mkdtempSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MachineStatus } from '../../server/model/status.js';
import { openSqliteStore } from '../../server/store/sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'ks-walsync-'));
const file = join(dir, 'kickstand.db');
writeSync(1, `${file}\n`);
const status = (machine: string, version: number): MachineStatus => ({ machine, state: 'registered', netboot: 'local', stateSince: 1, hostKeys: [], version });
const said = (what: string) => writeSync(1, `resolved ${what}\n`);

const store = await openSqliteStore(file);
writeSync(1, 'start\n');
for (let v = 1; v <= 5; v++) {
  await store.status.put(status('m1', v));
  said(`put ${v}`);
}
for (let v = 1; v <= 5; v++) {
  await store.transaction(async (tx) => {
    await tx.status.put(status('m2', v));
    await tx.tokens.put({ token: `t${v}`, machine: 'm2', installId: `i${v}`, expiresAt: 9e12 });
  });
  said(`transaction ${v}`);
}
// Side by side: each is told only once its own commit is on disk, however they group.
await Promise.all(
  Array.from({ length: 8 }, (_, i) =>
    store.transaction(async (tx) => tx.status.put(status(`g${i}`, 1))).then(() => said(`group ${i}`)),
  ),
);
await store.check();
said('check');
writeSync(1, 'end\n');
await store.close();
rmSync(dir, { recursive: true, force: true });

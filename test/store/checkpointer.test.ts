import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { openSqliteStore } from '../../server/store/sqlite.js';

/**
 * The store's WAL is checkpointed by a worker, not by the COMMIT that crosses SQLite's threshold
 * on the event loop. Pages reach the main database file only through a checkpoint; the store's
 * own automatic checkpoint waits for 40 MB of WAL, SQLite's default for 4 MB, so 2 MB showing
 * up in the main file within a few seconds means the worker did it.
 */
t.test('written pages reach the main file without a checkpoint on the event loop; close stops the worker', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-ckpt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'kickstand.db');
  const store = await openSqliteStore(file);
  const before = statSync(file).size;
  const message = 'x'.repeat(1000);
  for (let i = 0; i < 5; i++)
    await store.events.appendMany(Array.from({ length: 500 }, (_, j) => ({ event: { kind: 'asset' as const, level: 'info' as const, message: `${i}/${j} ${message}` }, at: i })));
  const deadline = Date.now() + 10_000;
  while (statSync(file).size < before + 2_000_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.ok(statSync(file).size >= before + 2_000_000, `the main file grew from ${before} to ${statSync(file).size} bytes`);
  t.equal((await store.events.list({ limit: 5000 })).length, 2500, 'every event still there');
  await store.close();
  t.notOk(existsSync(`${file}-wal`), 'after close the WAL is checkpointed and gone: no connection was left open');
});

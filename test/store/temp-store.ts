import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { Profile } from '../../server/model/profile.js';
import { openSqliteStore } from '../../server/store/sqlite.js';

/** A SQLite store in a fresh directory holding profile p1, closed and removed at the end of t. */
export async function tempStore(t: Test, prefix = 'ks-store-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const file = join(dir, 'kickstand.db');
  const store = await openSqliteStore(file);
  t.teardown(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await store.profiles.put({ name: 'p1', os: 'rocky-9', firmware: 'bios' } as Profile);
  return { store, file };
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { openSqliteStore } from '../../server/store/sqlite.js';
import type { StoreOptions } from '../../server/store/store.js';
import { storeContract } from './contract.js';
import { brokenStore } from './fakes/broken-store.js';
import { slowStore } from './fakes/slow-store.js';

/** SQLite in a file of its own temp directory, removed after the store is closed. */
async function sqliteInTempDir(t: Test, opts: StoreOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'ks-contract-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return openSqliteStore(join(dir, 'kickstand.db'), opts);
}

storeContract(t, 'sqlite', sqliteInTempDir);
// Every call 3 ms late: awaits interleave as they would with a store over the network.
storeContract(t, 'slow store (3 ms) over sqlite', async (t, opts) => slowStore(await sqliteInTempDir(t, opts), 3));
// The fake the API tests break: while healthy it must be the store it wraps.
storeContract(t, 'broken store, healthy, over sqlite', async (t, opts) => brokenStore(await sqliteInTempDir(t, opts)));

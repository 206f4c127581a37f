import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { openSqliteStore } from './sqlite.js';
import type { Store } from './store.js';

/** The store config.store.url names: `sqlite:PATH` (`sqlite://PATH` too), by default in the data directory. */
export function openStore(config: Config): Promise<Store> {
  const url = config.store.url;
  return openSqliteStore(url ? url.replace(/^sqlite:(\/\/)?/, '') : join(config.dataDir, 'kickstand.db'));
}

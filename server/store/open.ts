import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { openPostgresStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import type { Store } from './store.js';

/**
 * The store config.store.url names: `sqlite:PATH` (`sqlite://PATH` too), by default in the data
 * directory; or PostgreSQL, `postgres://USER:PASSWORD@HOST:PORT/DB` (`postgresql://` too,
 * node-postgres' connection string: `?host=/run/postgresql` for a Unix socket, `sslmode=`).
 */
export function openStore(config: Config): Promise<Store> {
  const url = config.store.url;
  if (url && /^postgres(ql)?:\/\//.test(url)) return openPostgresStore(url);
  return openSqliteStore(url ? url.replace(/^sqlite:(\/\/)?/, '') : join(config.dataDir, 'kickstand.db'));
}

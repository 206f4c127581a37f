import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { openSqliteStore } from './sqlite.js';
import type { Store } from './store.js';

/** Whether store.url names PostgreSQL (else the store is SQLite, by default in the data directory). */
export function isPostgresUrl(url: string | undefined): boolean {
  return url !== undefined && /^postgres(ql)?:\/\//.test(url);
}

/**
 * The store config.store.url names: `sqlite:PATH` (`sqlite://PATH` too), by default in the data
 * directory; or PostgreSQL, `postgres://USER:PASSWORD@HOST:PORT/DB` (`postgresql://` too,
 * node-postgres' connection string: `?host=/run/postgresql` for a Unix socket, `sslmode=`).
 * Opened under config.instance: its events carry the name, and with PostgreSQL the name is
 * held for the store's life (a name another live process holds rejects with InstanceNameTaken).
 */
export async function openStore(config: Config): Promise<Store> {
  const url = config.store.url;
  const opts = { instance: config.instance };
  // Loaded only here: an instance on SQLite does not carry the PostgreSQL driver in its memory.
  if (url && isPostgresUrl(url)) return (await import('./postgres.js')).openPostgresStore(url, opts);
  return openSqliteStore(url ? url.replace(/^sqlite:(\/\/)?/, '') : join(config.dataDir, 'kickstand.db'), opts);
}

import { hostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

export class DataDirBusy extends Error {}

/**
 * One kickstand per data directory. The lock is a write transaction held open on a small SQLite
 * file for the life of the process: the kernel's file lock under it goes with the process,
 * kill -9 included, so a crashed holder never leaves a stale lock. Who holds it is written
 * before the lock is taken, for the message a second process prints.
 */
export function lockDataDir(dir: string): { release(): void } {
  const db = new Database(join(dir, 'kickstand.lock'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 0');
    db.exec('CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER, host TEXT, since TEXT)');
    try {
      db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      const h = db.prepare('SELECT pid, host, since FROM holder').get() as { pid: number; host: string; since: string } | undefined;
      const who = h ? `kickstand pid ${h.pid} on ${h.host}, running since ${h.since}` : 'another process';
      throw new DataDirBusy(`data directory ${dir} is in use by ${who}: stop it first, or give this one its own KICKSTAND_DATA_DIR`, { cause: err });
    }
    db.prepare('INSERT OR REPLACE INTO holder (id, pid, host, since) VALUES (1, ?, ?, ?)').run(process.pid, hostname(), new Date().toISOString());
    db.exec('COMMIT');
    // Between the COMMIT and this BEGIN another process could take the lock: it then holds it and
    // this one refuses. Never two holders.
    try {
      db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      throw new DataDirBusy(`data directory ${dir} was taken by another process while this one started`, { cause: err });
    }
  } catch (err) {
    db.close();
    throw err;
  }
  return { release: () => db.close() };
}

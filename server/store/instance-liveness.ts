import { instanceLockKey } from './instance-lock.js';

/** Runs one statement on the database (a pooled connection will do: nothing is taken). */
export type Query = (text: string, values: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>;

// pg_locks shows every session's granted advisory locks to any role, in this database: a
// bigint key as its high and low 32 bits (classid, objid), with objsubid 1.
const HELD = `SELECT l.classid::text AS hi, l.objid::text AS lo FROM pg_locks l
  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND (l.classid, l.objid) IN (SELECT * FROM unnest($1::oid[], $2::oid[]))`;

const halves = (key: string) => {
  const k = BigInt(key);
  return { hi: ((k >> 32n) & 0xffffffffn).toString(), lo: (k & 0xffffffffn).toString() };
};

/**
 * Store.liveInstances on PostgreSQL: which of the names a live kickstand holds now. An instance
 * holds its name in a session-level advisory lock for as long as it runs (instance-lock.ts), and
 * a dead one's session ends with it, so reading the granted locks is enough.
 */
export function instanceLiveness(query: Query): (names: string[]) => Promise<Set<string>> {
  return async (names) => {
    if (!names.length) return new Set();
    const keys = names.map((name) => ({ name, ...halves(instanceLockKey(name)) }));
    const { rows } = await query(HELD, [keys.map((k) => k.hi), keys.map((k) => k.lo)]);
    const held = new Set(rows.map((r) => `${r.hi}:${r.lo}`));
    return new Set(keys.filter((k) => held.has(`${k.hi}:${k.lo}`)).map((k) => k.name));
  };
}

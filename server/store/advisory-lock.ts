import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

/**
 * A PostgreSQL advisory lock held by a session of its own: the way kickstand instances sharing
 * one database agree on who has something (an instance name, a DHCP subnet) with no consensus of
 * their own. The lock lives as long as the connection: a holder that dies, kill -9 included,
 * lets go as soon as the server sees its connection close.
 */

/** The key is held by another live session. */
class LockTaken extends Error {
  constructor(readonly holder?: string) {
    super('advisory lock held by another session');
  }
}


export interface AdvisoryLock {
  /** Why the key is not held now (taken by another, or its connection went away); undefined while held. */
  readonly lost: string | undefined;
  /** Lets the key go (closes the connection that holds it). */
  release(): Promise<void>;
}

export interface AdvisoryLockOptions {
  /** A new, unconnected client on the store's database: the lock's own connection, never the pool's. */
  client: () => pg.Client;
  /**
   * Held by another at the start: false (default) rejects with taken(holder) after graceMs;
   * true waits, trying every retryMs, and tells onRegained when it has the key.
   */
  wait?: boolean;
  /** The error a key found taken rejects with (without wait). */
  taken: (holder?: string) => Error;
  /** What the key stands for, in the reasons lost gives: "the name", "subnet 10.0.0.0/24". */
  what: string;
  /**
   * How long a key found taken is tried again before refusing. A holder killed a moment ago lets
   * go as soon as its server process sees the connection close, a few milliseconds later.
   */
  graceMs?: number;
  /** While the key is not held, how often to try to take it. */
  retryMs?: number;
  /** How often the holding connection is asked a SELECT 1, and how long it may take to answer. */
  heartbeatMs?: number;
  onLost?(reason: string): void;
  onRegained?(): void;
}

const GUARD_SETTINGS = [
  // The server's side of a holder whose host died without closing the connection (power, network):
  // keepalives end that session, and free the name, within about 30 s (TCP only; sockets ignore them).
  'SET tcp_keepalives_idle = 10',
  'SET tcp_keepalives_interval = 5',
  'SET tcp_keepalives_count = 4',
  // No server timeout may end the idle connection that holds the name (idle_session_timeout: PostgreSQL 14+).
  'SET idle_session_timeout = 0',
  'SET idle_in_transaction_session_timeout = 0',
  'SET statement_timeout = 0',
];

async function connect(make: () => pg.Client): Promise<pg.Client> {
  const c = make();
  // Failures show as failed queries and the 'end' event; an unhandled 'error' would end the process.
  c.on('error', () => undefined);
  try {
    await c.connect();
    for (const sql of GUARD_SETTINGS) await c.query(sql).catch(() => undefined);
  } catch (err) {
    await c.end().catch(() => undefined);
    throw err;
  }
  return c;
}

const tryLock = async (c: pg.Client, key: string) => (await c.query('SELECT pg_try_advisory_lock($1::bigint) AS ok', [key])).rows[0]?.ok === true;

/** The connection holding the key, as pg_stat_activity shows it (best effort: roles without pg_read_all_stats see less). */
async function describeHolder(c: pg.Client, key: string): Promise<string | undefined> {
  const k = BigInt(key);
  const r = await c.query(
    `SELECT a.application_name AS app, host(a.client_addr) AS addr, a.backend_start AS since
     FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = $1::oid AND l.objid = $2::oid
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
     LIMIT 1`,
    [((k >> 32n) & 0xffffffffn).toString(), (k & 0xffffffffn).toString()],
  );
  const h = r.rows[0] as { app?: string | null; addr?: string | null; since?: Date | null } | undefined;
  if (!h) return undefined;
  const parts = [h.app ? `"${h.app}"` : 'a connection', h.addr ? `from ${h.addr}` : 'over a local socket', h.since ? `since ${h.since.toISOString()}` : undefined];
  return parts.filter(Boolean).join(' ');
}

/**
 * Holds `key` (a signed 64-bit integer as a decimal string) on a connection of its own until
 * release. Two sessions cannot both hold it. Rejects with opts.taken(holder) when another live
 * connection holds it (after graceMs; unless opts.wait), or with the connection's error.
 *
 * Once held, losing the connection (the server restarted, the network broke) loses the key: lost
 * says why, onLost is told, and the key is taken again every retryMs until it is back (onRegained)
 * or released. A process that took the key meanwhile keeps it; this one stays lost and says so.
 */
export async function holdAdvisoryLock(key: string, opts: AdvisoryLockOptions): Promise<AdvisoryLock> {
  const holds = (err: LockTaken, took: boolean) =>
    `${took ? `another process took ${opts.what} meanwhile` : `another process holds ${opts.what}`}${err.holder ? `: it is held by ${err.holder}` : ''}`;
  const graceMs = opts.graceMs ?? 1_000;
  const retryMs = opts.retryMs ?? 1_000;
  const heartbeatMs = opts.heartbeatMs ?? 10_000;

  const take = async (grace: number): Promise<pg.Client> => {
    const c = await connect(opts.client);
    try {
      const until = Date.now() + grace;
      for (;;) {
        if (await tryLock(c, key)) return c;
        if (Date.now() >= until) break;
        await sleep(100);
      }
      throw new LockTaken(await describeHolder(c, key).catch(() => undefined));
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
  };

  let client: pg.Client | undefined;
  let lost: string | undefined;
  let released = false;
  let retry: NodeJS.Timeout | undefined;
  try {
    client = await take(graceMs);
  } catch (err) {
    if (!(err instanceof LockTaken)) throw err;
    if (!opts.wait) throw opts.taken(err.holder);
    lost = holds(err, false);
    retry = setTimeout(() => void retake(), retryMs).unref();
  }

  const gone = (c: pg.Client, why: string) => {
    if (client !== c || released) return;
    client = undefined;
    lost = why;
    c.end().catch(() => undefined);
    opts.onLost?.(why);
    retry = setTimeout(retake, retryMs).unref();
  };
  const watch = (c: pg.Client) => {
    c.on('end', () => gone(c, 'its connection to PostgreSQL ended'));
    c.on('error', (err) => gone(c, `its connection to PostgreSQL failed: ${err.message}`));
  };
  const retake = async () => {
    retry = undefined;
    if (released) return;
    try {
      const c = await take(0);
      if (released) return void (await c.end().catch(() => undefined));
      client = c;
      lost = undefined;
      watch(c);
      opts.onRegained?.();
    } catch (err) {
      if (released) return;
      if (err instanceof LockTaken) {
        const why = holds(err, !lost?.startsWith('another process holds'));
        if (why !== lost) opts.onLost?.((lost = why));
      }
      retry = setTimeout(retake, retryMs).unref();
    }
  };
  if (client) watch(client);

  // A connection that stopped answering (a broken network) says nothing by itself: ask it.
  let asking = false;
  const heartbeat = setInterval(async () => {
    const c = client;
    if (!c || asking) return;
    asking = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        c.query('SELECT 1'),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${heartbeatMs} ms`)), heartbeatMs))),
      ]);
    } catch (err) {
      gone(c, `its connection to PostgreSQL failed: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
      asking = false;
    }
  }, heartbeatMs);
  heartbeat.unref();

  return {
    get lost() {
      return lost;
    },
    async release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      clearTimeout(retry);
      const c = client;
      client = undefined;
      // Closing the session frees its advisory locks: no unlock statement needed.
      await c?.end().catch(() => undefined);
    },
  };
}

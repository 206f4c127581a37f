import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

/** Another live process holds this instance name on the database. */
export class InstanceNameTaken extends Error {
  constructor(
    readonly instance: string,
    /** Who holds it, as PostgreSQL sees the holding connection, when it could be read. */
    readonly holder?: string,
  ) {
    super(
      `instance ${instance} is running already (PostgreSQL advisory lock): give this one another name with KICKSTAND_INSTANCE` +
        (holder ? ` (the name is held by ${holder})` : ''),
    );
    this.name = 'InstanceNameTaken';
  }
}

/**
 * The advisory lock key of an instance name: the first 64 bits of SHA-256 over
 * `kickstand-instance:NAME`, as the signed BIGINT pg_try_advisory_lock takes (a decimal string:
 * a JavaScript number would lose the low bits).
 */
export function instanceLockKey(name: string): string {
  return createHash('sha256').update(`kickstand-instance:${name}`).digest().readBigInt64BE(0).toString();
}

export interface InstanceLock {
  readonly instance: string;
  /** Why the name is not held now (its connection went away and it is being taken again); undefined while held. */
  readonly lost: string | undefined;
  /** Lets the name go (closes the connection that holds it). */
  release(): Promise<void>;
}

export interface InstanceLockOptions {
  /** A new, unconnected client on the store's database: the lock's own connection, never the pool's. */
  client: () => pg.Client;
  /**
   * How long a name found taken is tried again before refusing. A holder killed a moment ago lets
   * go as soon as its server process sees the connection close, a few milliseconds later.
   */
  graceMs?: number;
  /** While the name is lost, how often to take it again. */
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
 * Takes the instance name on the database: a session-level advisory lock on a connection of its
 * own, held until release. Two processes with one name cannot both hold it; a holder that dies,
 * kill -9 included, drops its connection and the name with it, so a restart takes it at once.
 * Rejects with InstanceNameTaken when another live connection holds it (after graceMs), or with
 * the connection's error.
 *
 * Once held, losing the connection (the server restarted, the network broke) loses the name: lost
 * says why, onLost is told, and the name is taken again every retryMs until it is back (onRegained)
 * or released. A process that took the name meanwhile keeps it; this one stays lost and says so.
 */
export async function lockInstanceName(instance: string, opts: InstanceLockOptions): Promise<InstanceLock> {
  const key = instanceLockKey(instance);
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
      throw new InstanceNameTaken(instance, await describeHolder(c, key).catch(() => undefined));
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
  };

  let client: pg.Client | undefined = await take(graceMs);
  let lost: string | undefined;
  let released = false;
  let retry: NodeJS.Timeout | undefined;

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
      if (err instanceof InstanceNameTaken) {
        const why = `another process took the name meanwhile${err.holder ? `: it is held by ${err.holder}` : ''}`;
        if (why !== lost) opts.onLost?.((lost = why));
      }
      retry = setTimeout(retake, retryMs).unref();
    }
  };
  watch(client);

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
    instance,
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

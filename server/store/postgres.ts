import type pg from 'pg';
import { ConflictError, StoreUnavailable } from '../model/errors.js';
import type { BootEvent, StoredEvent } from '../model/events.js';
import type { Lease } from '../model/lease.js';
import type { Machine } from '../model/machine.js';
import type { Profile } from '../model/profile.js';
import type { MachineStatus } from '../model/status.js';
import type { InstallToken } from '../model/token.js';
import type { DiscoveredEntry, DiscoveryToken, Replacement, Rule } from '../model/discovery.js';
import type { HardwareRecord } from '../model/hardware.js';
import { type InstanceLock, type InstanceLockOptions, lockInstanceName, lockKey } from './instance-lock.js';
import { instanceLiveness } from './instance-liveness.js';
import { type Mark, SharedCache } from './shared-cache.js';
import { claimSubnets } from './subnet-locks.js';
import { EVENT_LOCK_KEY, MIGRATION_LOCK_KEY, PG_MIGRATIONS } from './postgres-migrations.js';
import type { Repos, Store, StoreOptions } from './store.js';
import { parsedBodies, refuseHeld, type Row, storedEvent, toDiscoveryToken, toEvent, toLease, toToken } from './rows.js';


/** The NOTIFY channel of committed events; the payload is the burst's highest id (ids only: payloads are small). */
export const EVENT_CHANNEL = 'kickstand_events';
/** The NOTIFY channel of written rows that instances keep in memory (shared-cache.ts): 'KIND:KEY'. */
export const ROWS_CHANNEL = 'kickstand_rows';

/**
 * An event insert's common table expressions, its arrays from $p on and the writing instance
 * after them. It takes a transaction-level advisory lock before its ids are drawn, so ids become
 * visible in order (a reader paging by id never passes an id whose event commits later), across
 * connections and instances. The lock is taken in a materialised CTE that every row goes through
 * (after `gate`'s rows, when given: no row there, no event); the sort by ordinality ends the scan
 * before the first id is drawn, and gives the ids in the order of the arrays. The burst's highest
 * id is NOTIFYed on EVENT_CHANNEL in the same statement, so in the same transaction: listeners
 * (every instance's SSE streams, watchEvents) hear of it once it commits, and never of a rollback.
 */
const eventInsertCtes = (p: number, gate?: string) => `lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(${EVENT_LOCK_KEY})${gate ? ` FROM ${gate}` : ''}),
    ins AS (INSERT INTO events (machine, at, level, kind, message, mac, ip, data, instance)
      SELECT u.machine, u.at, u.level, u.kind, u.message, u.mac, u.ip, u.data, $${p + 8}::text
      FROM lock, unnest($${p}::text[], $${p + 1}::bigint[], $${p + 2}::text[], $${p + 3}::text[], $${p + 4}::text[], $${p + 5}::text[], $${p + 6}::text[], $${p + 7}::text[])
        WITH ORDINALITY AS u(machine, at, level, kind, message, mac, ip, data, n)
      ORDER BY u.n
      RETURNING id),
    notified AS (SELECT pg_notify('${EVENT_CHANNEL}', max(id)::text) FROM ins HAVING count(*) > 0)`;

/** The number after a statement's highest parameter ($N). */
const nextParam = (text: string) => Math.max(0, ...[...text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]))) + 1;

/**
 * The statements, prepared once per connection by name (node-postgres' named queries; the
 * driver benchmark, bench/store/drivers.ts, runs these same texts). Text
 * ordering is COLLATE "C" wherever SQLite's order shows (lists by name): byte order, as SQLite
 * sorts, whatever the database's locale.
 */
export const SQL = {
  machineGet: 'SELECT body FROM machines WHERE name = $1',
  rowsChanged: `SELECT pg_notify('${ROWS_CHANNEL}', $1)`,
  sharedValuePut: 'INSERT INTO shared_values (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING',
  sharedValueGet: 'SELECT value FROM shared_values WHERE name = $1',
  machineByMac: 'SELECT m.body FROM machine_macs x JOIN machines m ON m.name = x.machine WHERE x.mac = $1',
  machineList: 'SELECT body FROM machines ORDER BY name COLLATE "C"',
  // A machine put holds its profile's row (if any) until it commits, so a profile delete running
  // at the same time, here or in another instance, either waits and sees the machine or went first.
  machineProfileShare: 'SELECT 1 FROM profiles WHERE name = $1 FOR KEY SHARE',
  macOwners: 'SELECT mac, machine FROM machine_macs WHERE mac = ANY($1::text[]) AND machine <> $2',
  machineUpsert:
    'INSERT INTO machines (name, profile, body, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET profile = excluded.profile, body = excluded.body, updated_at = excluded.updated_at',
  macsDelete: 'DELETE FROM machine_macs WHERE machine = $1',
  macsInsert: 'INSERT INTO machine_macs (mac, machine) SELECT unnest($1::text[]), $2',
  machineDelete: 'DELETE FROM machines WHERE name = $1',
  profileGet: 'SELECT body FROM profiles WHERE name = $1',
  profileList: 'SELECT body FROM profiles ORDER BY name COLLATE "C"',
  profileUpsert: 'INSERT INTO profiles (name, body, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at',
  profileLock: 'SELECT 1 FROM profiles WHERE name = $1 FOR UPDATE',
  profileUsers: 'SELECT name FROM machines WHERE profile = $1 ORDER BY name COLLATE "C" LIMIT 3',
  profileDelete: 'DELETE FROM profiles WHERE name = $1',
  statusGet: 'SELECT body FROM status WHERE machine = $1',
  statusList: 'SELECT body FROM status ORDER BY machine COLLATE "C"',
  // Optimistic versions in one statement each: no row is written unless the stored version is
  // the one before, whoever else writes at the same time.
  statusCreate: 'INSERT INTO status (machine, body, version) VALUES ($1, $2, 1) ON CONFLICT (machine) DO NOTHING',
  statusUpdate: 'UPDATE status SET body = $2, version = $3 WHERE machine = $1 AND version = $3 - 1',
  statusVersion: 'SELECT version FROM status WHERE machine = $1',
  statusDelete: 'DELETE FROM status WHERE machine = $1',
  eventsInsert: `WITH ${eventInsertCtes(1)} SELECT ins.id FROM ins, notified`,
  eventsAll: 'SELECT * FROM events WHERE id > $1 ORDER BY id LIMIT $2',
  eventsMachine: 'SELECT * FROM events WHERE machine = $1 AND id > $2 ORDER BY id LIMIT $3',
  eventsTail: 'SELECT * FROM (SELECT * FROM events WHERE machine = $1 AND at >= $2 ORDER BY id DESC LIMIT $3) t ORDER BY id',
  eventsPrune: 'DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < $1 ORDER BY id LIMIT $2)',
  heartbeat: 'INSERT INTO heartbeat (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at',
  // A token written again becomes the newest (as SQLite's INSERT OR REPLACE gives it a new rowid).
  tokenPut: `INSERT INTO tokens (token, machine, install_id, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (token) DO UPDATE SET machine = excluded.machine, install_id = excluded.install_id, expires_at = excluded.expires_at,
    revoked_at = excluded.revoked_at, seq = nextval('tokens_seq')`,
  tokenRevokeMachine: 'UPDATE tokens SET revoked_at = $1 WHERE machine = $2 AND revoked_at IS NULL',
  tokenGet: 'SELECT token, machine, install_id, expires_at, revoked_at FROM tokens WHERE token = $1',
  tokenCurrent: 'SELECT token, machine, install_id, expires_at, revoked_at FROM tokens WHERE machine = $1 ORDER BY seq DESC LIMIT 1',
  tokenDeleteMachine: 'DELETE FROM tokens WHERE machine = $1',
  leaseByMac: 'SELECT * FROM leases WHERE mac = $1',
  leaseByIp: 'SELECT * FROM leases WHERE ip = $1',
  leaseList: 'SELECT * FROM leases ORDER BY ip COLLATE "C"',
  leaseListSubnet: 'SELECT * FROM leases WHERE subnet = $1 ORDER BY ip COLLATE "C"',
  // mayTakeAddress (model/lease.ts) in the database, a burst in one round trip (postgres-migrations.ts);
  // another instance's lease put meanwhile still meets the UNIQUE (ip) constraint.
  leasesPut: 'SELECT * FROM kickstand_put_leases($1::jsonb)',
  leaseDelete: 'DELETE FROM leases WHERE mac = $1',
  hardwareGet: 'SELECT body, source, reported_at FROM hardware WHERE machine = $1',
  hardwareUpsert: `INSERT INTO hardware (machine, body, source, reported_at) SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM machines WHERE name = $1)
    ON CONFLICT (machine) DO UPDATE SET body = excluded.body, source = excluded.source, reported_at = excluded.reported_at`,
  ruleGet: 'SELECT body FROM rules WHERE name = $1',
  ruleList: 'SELECT body FROM rules ORDER BY priority DESC, name COLLATE "C"',
  ruleUpsert:
    'INSERT INTO rules (name, priority, body, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET priority = excluded.priority, body = excluded.body, updated_at = excluded.updated_at',
  ruleDelete: 'DELETE FROM rules WHERE name = $1',
  discoveredGet: 'SELECT body FROM discovered WHERE id = $1',
  discoveredList: 'SELECT body FROM discovered ORDER BY seen_at DESC, id COLLATE "C"',
  discoveredUpsert:
    'INSERT INTO discovered (id, state, body, seen_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body, seen_at = excluded.seen_at',
  discoveredDelete: 'DELETE FROM discovered WHERE id = $1',
  // One discovery token per MAC: the MAC's other token goes first, then the upsert by token.
  discoveryTokenDropMac: 'DELETE FROM discovery_tokens WHERE mac = $1 AND token <> $2',
  discoveryTokenPut: `INSERT INTO discovery_tokens (token, mac, ip, expires_at, entry_id, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (token) DO UPDATE SET mac = excluded.mac, ip = excluded.ip, expires_at = excluded.expires_at, entry_id = excluded.entry_id, revoked_at = excluded.revoked_at`,
  discoveryTokenGet: 'SELECT * FROM discovery_tokens WHERE token = $1',
  discoveryTokenByMac: 'SELECT * FROM discovery_tokens WHERE mac = $1',
  discoveryTokenPrune: 'DELETE FROM discovery_tokens WHERE token IN (SELECT token FROM discovery_tokens WHERE expires_at < $1 ORDER BY expires_at LIMIT $2)',
  retiredPut: `INSERT INTO retired_macs (mac, machine, retired_at) SELECT unnest($1::text[]), $2, $3
    ON CONFLICT (mac) DO UPDATE SET machine = excluded.machine, retired_at = excluded.retired_at`,
  retiredGet: 'SELECT machine, retired_at FROM retired_macs WHERE mac = $1',
  replacementAppend: 'INSERT INTO replacements (machine, at, body) VALUES ($1, $2, $3)',
  replacementList: 'SELECT body FROM replacements WHERE machine = $1 ORDER BY id',
} as const;

/** The one-statement writes of rows every instance keeps in memory (shared-cache.ts). */
const ANNOUNCED = ['machineDelete', 'profileUpsert', 'statusCreate', 'statusUpdate', 'statusDelete', 'tokenPut', 'tokenRevokeMachine', 'tokenDeleteMachine'] as const;
type Announced = `${(typeof ANNOUNCED)[number]}Announced`;

/**
 * Each of them with its NOTIFY kickstand_rows in the same statement (so in its transaction: heard
 * once it commits, never for a rollback), the payload as the last parameter: one round trip where
 * a transaction of its own (BEGIN, the write, the NOTIFY, COMMIT) took four. `n`: the rows written.
 */
const ANNOUNCED_SQL = Object.fromEntries(
  ANNOUNCED.map((s) => [`${s}Announced`, `WITH w AS (${SQL[s]} RETURNING 1) SELECT count(*)::int AS n, pg_notify('${ROWS_CHANNEL}', $${nextParam(SQL[s])}) FROM w`]),
) as Record<Announced, string>;

/**
 * A status write announced, and the events that tell of it, in one statement: the lifecycle's
 * state change in one round trip (BEGIN, the status, the events, COMMIT took four). No status
 * row written (a stale version), no event and no notification. `n`: the status rows written;
 * `ids`: the events'; `a` and `e` count the notifications (selected so that they are sent).
 */
const withEvents = (write: string) => {
  const p = nextParam(write);
  return `WITH w AS (${write} RETURNING 1),
    announced AS (SELECT pg_notify('${ROWS_CHANNEL}', $${p}) FROM w),
    ${eventInsertCtes(p + 1, 'w')}
    SELECT (SELECT count(*)::int FROM w) AS n, (SELECT count(*)::int FROM announced) AS a, (SELECT count(*)::int FROM notified) AS e, ARRAY(SELECT id FROM ins ORDER BY id) AS ids`;
};
const STATEMENTS: Record<Statement, string> = {
  ...SQL,
  ...ANNOUNCED_SQL,
  statusCreateWithEvents: withEvents(SQL.statusCreate),
  statusUpdateWithEvents: withEvents(SQL.statusUpdate),
};
type Statement = keyof typeof SQL | Announced | 'statusCreateWithEvents' | 'statusUpdateWithEvents';

/** Events to write, each with its time. */
type EventBatch = { event: BootEvent; at: number }[];

/** Runs one named statement on some connection: the pool's (autocommit) or a transaction's. */
type Exec = (statement: Statement, values: unknown[]) => Promise<pg.QueryResult<Row>>;

/**
 * Errors that say the database cannot be reached or cannot take writes now: connection failures
 * (refused, reset, timed out, closed by the server: class 08, 57P0x), resources (53: disk full,
 * out of memory, too many connections), system errors (58: I/O), a read-only server (25006).
 * Anything else is a bug or a conflict and goes up as it is.
 */
const UNAVAILABLE_SQLSTATE = /^(08|53|58|57P0)|^25006$/;
const UNAVAILABLE_NODE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOENT']);
const UNAVAILABLE_MESSAGE = /Connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable|Client was closed|Cannot use a pool after calling end/i;

export function isUnavailable(err: unknown): boolean {
  if (err instanceof StoreUnavailable) return true;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_NODE.has(code))) return true;
  if (err instanceof AggregateError) return err.errors.some(isUnavailable);
  return err instanceof Error && UNAVAILABLE_MESSAGE.test(err.message);
}

function unavailable(err: unknown): unknown {
  if (err instanceof StoreUnavailable || !isUnavailable(err)) return err;
  const code = (err as { code?: unknown }).code;
  const message = (err as Error).message || (err instanceof AggregateError ? err.errors.map((e) => (e as Error).message).join('; ') : String(err));
  return new StoreUnavailable(`PostgreSQL cannot be used now: ${message}${code ? ` (${code})` : ''}`, { cause: err });
}

async function mapped<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw unavailable(err);
  }
}

/**
 * node-postgres, loaded when a PostgreSQL store is opened (a static import would load it into
 * every instance on SQLite too), with int8 (BIGINT: epoch ms, ids) parsed as a number for this
 * store's connections only: nothing process-wide is changed.
 */
interface Driver {
  pg: typeof pg;
  types: pg.CustomTypesConfig;
}
const INT8 = 20;
async function loadDriver(): Promise<Driver> {
  const { default: driver } = await import('pg');
  const getTypeParser = (oid: number, format?: 'text' | 'binary') => (oid === INT8 && format !== 'binary' ? (v: string) => Number(v) : driver.types.getTypeParser(oid, format));
  return { pg: driver, types: { getTypeParser: getTypeParser as pg.CustomTypesConfig['getTypeParser'] } };
}

/**
 * A connection taken from the pool for several statements. The pool listens for errors only on
 * its idle connections: one that breaks while taken (the server went away between two
 * statements) emits an error nobody would hear, which ends the process. The statements' own
 * rejections say what went wrong; this listener only keeps the event heard until release.
 */
async function checkout(pool: pg.Pool): Promise<pg.PoolClient> {
  const c = await pool.connect();
  const heard = () => undefined;
  c.on('error', heard);
  const release = c.release.bind(c);
  c.release = (err?: Error | boolean) => {
    c.removeListener('error', heard);
    release(err);
  };
  return c;
}

async function migrate(pool: pg.Pool): Promise<void> {
  const c = await checkout(pool);
  let broken: Error | undefined;
  try {
    // Session-level: held across the migrations' own transactions; two instances starting at
    // once take turns, and the second finds everything applied. A dropped connection frees it.
    await c.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
      const done = new Set((await c.query('SELECT version FROM schema_migrations')).rows.map((r) => Number(r.version)));
      for (const [i, sql] of PG_MIGRATIONS.entries()) {
        if (done.has(i + 1)) continue;
        await c.query('BEGIN');
        try {
          await c.query(sql);
          await c.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [i + 1, Date.now()]);
          await c.query('COMMIT');
        } catch (err) {
          await c.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      }
    } finally {
      await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch((err) => (broken = err));
    }
  } catch (err) {
    broken = err as Error;
    throw err;
  } finally {
    c.release(broken);
  }
}

/**
 * Committed events and written rows of every instance, heard with LISTEN on a connection of its
 * own (outside the pool: a listening session must stay the same one), opened at once and kept
 * until close. When it drops (the server restarted, the network broke), it is opened again with a
 * backoff (100 ms doubling to 5 s); every time LISTEN takes effect, watchers are told that
 * events may have been missed (onNew()), so they read again from their last id, and the row
 * cache starts afresh (it keeps nothing while the connection is down).
 */
function eventWatcher(client: () => pg.Client, rows: SharedCache, backoff = { minMs: 100, maxMs: 5_000 }) {
  const watchers = new Set<(lastId?: number) => void>();
  let current: pg.Client | undefined;
  let connecting = false;
  let timer: NodeJS.Timeout | undefined;
  let delay = backoff.minMs;
  let closed = false;
  const tell = (lastId?: number) => {
    for (const w of [...watchers])
      try {
        w(lastId);
      } catch (err) {
        process.emitWarning(`an events watcher failed: ${(err as Error).message}`, 'KickstandStoreWarning');
      }
  };
  const schedule = () => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, delay);
    timer.unref();
    delay = Math.min(delay * 2, backoff.maxMs);
  };
  const connect = async () => {
    if (closed || current || connecting) return;
    connecting = true;
    const c = client();
    let dropped = false;
    const drop = () => {
      if (dropped) return;
      dropped = true;
      if (current === c) current = undefined;
      rows.listen(false);
      c.end().catch(() => undefined);
      schedule();
    };
    c.on('error', drop);
    c.on('end', drop);
    c.on('notification', (n) => {
      if (dropped) return;
      if (n.channel === ROWS_CHANNEL) return rows.changed(n.payload ?? '');
      if (n.channel !== EVENT_CHANNEL) return;
      const id = Number(n.payload);
      tell(Number.isSafeInteger(id) && id > 0 ? id : undefined);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${EVENT_CHANNEL}; LISTEN ${ROWS_CHANNEL}`);
      if (dropped) return;
      if (closed) {
        dropped = true;
        await c.end().catch(() => undefined);
        return;
      }
      current = c;
      rows.listen(true);
      delay = backoff.minMs;
      // Whatever committed while nobody here listened (before the first LISTEN, or between a
      // drop and now) is read by the watchers themselves.
      tell();
    } catch {
      drop();
    } finally {
      connecting = false;
    }
  };
  return {
    start: () => void connect(),
    watch(onNew: (lastId?: number) => void): () => void {
      watchers.add(onNew);
      // LISTEN took effect before this watcher came: it is told so, as it would have been then.
      if (current) setImmediate(() => watchers.has(onNew) && onNew());
      void connect();
      return () => void watchers.delete(onNew);
    },
    async close() {
      closed = true;
      watchers.clear();
      clearTimeout(timer);
      const c = current;
      current = undefined;
      await c?.end().catch(() => undefined);
    },
  };
}

export interface PostgresStoreOptions extends StoreOptions {
  /** Connections in the pool (10). One is held by a transaction while it runs. */
  max?: number;
  /** How long to wait for a connection before a call rejects with StoreUnavailable (5,000 ms). */
  connectTimeoutMs?: number;
  /** The instance-name lock's timings (instance-lock.ts), for tests. */
  instanceLock?: Pick<InstanceLockOptions, 'graceMs' | 'retryMs' | 'heartbeatMs'>;
}

/** A connection of the pool and whether the transaction on it can still go on. */
interface TxState {
  client: pg.PoolClient;
  /** A statement failed outside a savepoint: PostgreSQL aborted the transaction. */
  aborted: boolean;
  /** fn settled: the repos given to it must not be used any more. */
  ended: boolean;
  /** The tail of the calls made through tx, run one at a time on the connection. */
  queue: Promise<unknown>;
  /**
   * Kept rows it wrote ('KIND:KEY'), forgotten here when it ends (reads may have kept them
   * meanwhile); a status with the value it was last written with, kept if it commits.
   */
  touched: Map<string, { mark?: Mark; value?: unknown }>;
}

/**
 * The PostgreSQL store (`store.url: postgres://…`), for kickstand instances sharing one
 * database. Every method is a statement (or a few in one transaction) on a pooled connection;
 * writes are durable when they resolve (the server's synchronous_commit, on by default).
 *
 * The rows the boot path reads on every request (machines by name and by MAC, profiles, statuses
 * and install tokens by key) are kept in memory and forgotten on every instance when any instance writes them
 * (shared-cache.ts: NOTIFY kickstand_rows in the writing transaction). Everything else asks the
 * database. Parsed JSON bodies are kept by their text, which is safe with any number of writers.
 *
 * transaction(fn) runs fn on a connection of its own inside BEGIN … COMMIT, side by side with
 * this process's other transactions and writes as with other instances': PostgreSQL orders them
 * (row locks, the one-statement optimistic status put, the advisory lock on event ids), and
 * `exclusive` takes a transaction-level advisory lock on its name first.
 *
 * Inside a transaction, a write that PostgreSQL may refuse with a constraint error (a MAC taken
 * meanwhile, a machine deleted meanwhile) runs under a savepoint, so a ConflictError fn catches
 * does not end the transaction, as with SQLite. Any other failed statement aborts it: the
 * remaining calls through tx reject with StoreUnavailable and nothing of it commits.
 *
 * With opts.instance, the store holds that instance name for its life, before anything else
 * (instance-lock.ts: a session-level advisory lock on a connection of its own, outside the
 * pool): a name another live process holds rejects with InstanceNameTaken, and kickstand does not
 * start. Every event it writes carries the name. Should the holding connection go (the server
 * restarted), the name is taken again as soon as it can be; until then check() rejects, so
 * /healthz says so.
 */
export async function openPostgresStore(url: string, opts: PostgresStoreOptions = {}): Promise<Store> {
  const { instance } = opts;
  const driver = await loadDriver();
  let nameLock: InstanceLock | undefined;
  if (instance !== undefined)
    nameLock = await mapped(
      lockInstanceName(instance, {
        ...opts.instanceLock,
        // application_name: the holder a refused process names (PostgreSQL keeps 63 bytes of it).
        client: ownConnection(driver, url, opts),
        onLost: (reason) => process.emitWarning(`instance ${instance}: the instance-name lock is lost (${reason}); trying to take it back`, 'KickstandStoreWarning'),
        onRegained: () => process.emitWarning(`instance ${instance}: the instance-name lock is held again`, 'KickstandStoreWarning'),
      }),
    );
  try {
    return await openUnlocked(driver, url, opts, nameLock);
  } catch (err) {
    await nameLock?.release();
    throw err;
  }
}

/**
 * A connection of its own, outside the pool, for a session that must stay the same one (a lock,
 * LISTEN). Its application_name says whose and what for: the holder a refused process names.
 */
function ownConnection({ pg, types }: Driver, url: string, opts: PostgresStoreOptions, role?: string): () => pg.Client {
  const name = ['kickstand', opts.instance, role].filter((x) => x !== undefined).join(' ');
  return () => new pg.Client({ connectionString: url, connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000, keepAlive: true, application_name: name, types });
}

async function openUnlocked(driver: Driver, url: string, opts: PostgresStoreOptions, nameLock: InstanceLock | undefined): Promise<Store> {
  const { instance } = opts;
  const sharedCache = new SharedCache();
  const watcher = eventWatcher(ownConnection(driver, url, opts, 'events'), sharedCache);
  const pool = new driver.pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: 'kickstand',
    types: driver.types,
  });
  // An idle connection the server dropped: the pool discards it; the next call reports the outage.
  pool.on('error', () => undefined);
  try {
    await migrate(pool);
    watcher.start();
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw unavailable(err);
  }

  const poolExec: Exec = (s, values) => pool.query<Row>({ name: s, text: STATEMENTS[s], values });
  const clientExec =
    (c: pg.ClientBase): Exec =>
    (s, values) =>
      c.query<Row>({ name: s, text: STATEMENTS[s], values });

  /** Several statements that commit together, on a connection of their own. */
  const ownTransaction = async <T>(fn: (exec: Exec) => Promise<T>): Promise<T> => {
    const c = await checkout(pool);
    let broken: Error | undefined;
    try {
      await c.query('BEGIN');
      try {
        const result = await fn(clientExec(c));
        await c.query('COMMIT');
        return result;
      } catch (err) {
        if (isUnavailable(err)) broken = err as Error;
        else await c.query('ROLLBACK').catch((e) => (broken = e));
        throw err;
      }
    } finally {
      c.release(broken);
    }
  };

  const parsed = parsedBodies();
  const body = <T>(r: pg.QueryResult<Row>): T | undefined => (r.rows.length ? (parsed(r.rows[0].body as string) as T) : undefined);
  const bodies = <T>(r: pg.QueryResult<Row>): T[] => r.rows.map((x) => parsed(x.body as string) as T);
  const first = (r: pg.QueryResult<Row>): Row | undefined => r.rows[0];
  const changed = (r: pg.QueryResult<Row>) => (r.rowCount ?? 0) > 0;
  /** An announced statement's rows written (ANNOUNCED_SQL). */
  const written = (r: pg.QueryResult<Row>) => (r.rows[0].n as number) > 0;

  const putMachine = async (exec: Exec, m: Machine) => {
    await exec('machineProfileShare', [m.profile]);
    const owners = new Map((await exec('macOwners', [m.macs, m.name])).rows.map((r) => [r.mac as string, r.machine as string]));
    for (const mac of m.macs) {
      const owner = owners.get(mac);
      if (owner !== undefined) throw new ConflictError(`MAC ${mac} already belongs to machine ${owner}`, 'macs');
    }
    await exec('machineUpsert', [m.name, m.profile, JSON.stringify(m), Date.now()]);
    await exec('macsDelete', [m.name]);
    try {
      if (m.macs.length) await exec('macsInsert', [m.macs, m.name]);
    } catch (err) {
      // Another connection took one of the MACs after the check above.
      if ((err as { code?: unknown }).code === '23505') throw new ConflictError(`a MAC of ${m.name} was just taken by another machine: ${(err as Error).message}`, 'macs');
      throw err;
    }
  };
  const deleteProfile = async (exec: Exec, name: string) => {
    await exec('profileLock', [name]);
    const users = (await exec('profileUsers', [name])).rows.map((r) => r.name);
    if (users.length) throw new ConflictError(`profile ${name} is used by machine(s) ${users.join(', ')}`, 'name');
    return changed(await exec('profileDelete', [name]));
  };
  /** Writes a status and its events; returns the status as a read would give it, and the events as stored. */
  const putStatus = async (exec: Exec, s: MachineStatus, payload: string, events: EventBatch) => {
    const text = JSON.stringify(s);
    const create = s.version === 1;
    const row = [s.machine, text, ...(create ? [] : [s.version]), payload];
    let ok = create || s.version > 1;
    let stored: StoredEvent[] = [];
    if (ok && !events.length) ok = written(await exec(create ? 'statusCreateAnnounced' : 'statusUpdateAnnounced', row));
    else if (ok) {
      const r = first(await exec(create ? 'statusCreateWithEvents' : 'statusUpdateWithEvents', [...row, ...eventColumns(events)]))!;
      ok = (r.n as number) > 0;
      stored = (r.ids as string[]).map((id, i) => storedEvent(events[i].event, Number(id), events[i].at, instance));
    }
    if (!ok) {
      const current = first(await exec('statusVersion', [s.machine]))?.version;
      throw new ConflictError(`status of ${s.machine} changed concurrently (stored version ${current}, writing ${s.version})`, 'version');
    }
    return { row: parsed(text), stored };
  };
  /** An event batch as the insert's arrays, and the writing instance. */
  const eventColumns = (batch: EventBatch): unknown[] => {
    const cols: unknown[][] = [[], [], [], [], [], [], [], []];
    for (const { event: e, at } of batch) {
      cols[0].push(e.machine ?? null);
      cols[1].push(at);
      cols[2].push(e.level);
      cols[3].push(e.kind);
      cols[4].push(e.message);
      cols[5].push(e.mac ?? null);
      cols[6].push(e.ip ?? null);
      cols[7].push(e.data ? JSON.stringify(e.data) : null);
    }
    return [...cols, instance ?? null];
  };
  const insertEvents = async (exec: Exec, batch: EventBatch): Promise<StoredEvent[]> => {
    if (!batch.length) return [];
    const ids = (await exec('eventsInsert', eventColumns(batch))).rows.map((r) => r.id as number).sort((a, b) => a - b);
    return batch.map((b, i) => storedEvent(b.event, ids[i], b.at, instance));
  };
  /** Writes each lease, or returns the lease of the other MAC that holds its address. */
  const putLeases = async (exec: Exec, ls: Lease[]): Promise<Lease[]> => (await exec('leasesPut', [JSON.stringify(ls)])).rows.map(toLease);
  const putHardware = async (exec: Exec, machine: string, rec: HardwareRecord) => {
    const missing = () => new ConflictError(`no machine named ${machine}`, 'machine');
    try {
      if (!changed(await exec('hardwareUpsert', [machine, JSON.stringify(rec.inventory), rec.source, rec.reportedAt]))) throw missing();
    } catch (err) {
      if ((err as { code?: unknown }).code === '23503') throw missing();
      throw err;
    }
  };
  const putDiscoveryToken = async (exec: Exec, t: DiscoveryToken) => {
    await exec('discoveryTokenDropMac', [t.mac, t.token]);
    await exec('discoveryTokenPut', [t.token, t.mac, t.ip, t.expiresAt, t.entryId ?? null, t.revokedAt ?? null]);
  };

  /**
   * The repos over one way of running statements: `exec` runs one statement, `atomic` several
   * that commit or fail together (and may fail with a constraint error), `write` wraps every
   * write, `read` every read (outside a transaction they just map the errors; inside, they run
   * one after the other on its connection).
   */
  interface Runner {
    exec: Exec;
    atomic<T>(fn: (exec: Exec) => Promise<T>): Promise<T>;
    write<T>(fn: () => Promise<T>): Promise<T>;
    read<T>(fn: () => Promise<T>): Promise<T>;
    /** Reads of kept rows go through it (outside a transaction; a transaction reads its own writes). */
    cache?: SharedCache;
    /** A kept row ('KIND:KEY') is about to be written with a value to keep (shared-cache.ts). */
    writing(payload: string): Mark;
    /** A write of a kept row settled, committed or not: forget it here, or keep `value`, the row as written. */
    wrote(payload: string, mark?: Mark, value?: unknown): void;
  }
  const repos = ({ exec, atomic, write, read, cache, writing, wrote }: Runner): Repos => {
    /**
     * A write of kept rows, announced to every instance (NOTIFY in its transaction, signed by this
     * process), and forgotten here whatever came of it; with `keep`, what fn resolves to is the
     * row as written, kept here. `fn` is given the payload for an announced statement (one round
     * trip); without `one`, fn's statements and the NOTIFY run as one atomic unit.
     */
    const announced = <T>(payload: string, fn: (x: Exec, signed: string) => Promise<T>, one = false, keep?: (r: T) => unknown) =>
      write(async () => {
        const signed = `${sharedCache.tag} ${payload}`;
        const mark = keep ? writing(payload) : undefined;
        let value: unknown;
        try {
          const r = one
            ? await fn(exec, signed)
            : await atomic(async (x) => {
                const r = await fn(x, signed);
                await x('rowsChanged', [signed]);
                return r;
              });
          if (keep) value = keep(r);
          return r;
        } finally {
          wrote(payload, mark, value);
        }
      });
    /** One announced statement; whether it wrote a row. */
    const announce = (payload: string, s: Announced, values: unknown[]) => announced(payload, async (x, p) => written(await x(s, [...values, p])), true);
    const kept = <V>(kind: 'm' | 'p' | 's', key: string, fn: () => Promise<V | undefined>) => read(() => (cache ? cache.row(kind, key, fn) : fn()));
    return {
      machines: {
        get: (name) => kept('m', name, async () => body<Machine>(await exec('machineGet', [name]))),
        byMac: (mac) => {
          const fn = async () => body<Machine>(await exec('machineByMac', [mac]));
          return read(() => (cache ? cache.machineByMac(mac, fn) : fn()));
        },
        list: () => read(async () => bodies<Machine>(await exec('machineList', []))),
        put: (m) => announced(`m:${m.name}`, (x) => putMachine(x, m)),
        delete: (name) => announce(`m:${name}`, 'machineDeleteAnnounced', [name]),
      },
      profiles: {
        get: (name) => kept('p', name, async () => body<Profile>(await exec('profileGet', [name]))),
        list: () => read(async () => bodies<Profile>(await exec('profileList', []))),
        put: async (p) => void (await announce(`p:${p.name}`, 'profileUpsertAnnounced', [p.name, JSON.stringify(p), Date.now()])),
        delete: (name) => announced(`p:${name}`, (x) => deleteProfile(x, name)),
      },
      status: {
        get: (m) => kept('s', m, async () => body<MachineStatus>(await exec('statusGet', [m]))),
        list: () => read(async () => bodies<MachineStatus>(await exec('statusList', []))),
        put: async (s, events = []) => (await announced(`s:${s.machine}`, (x, p) => putStatus(x, s, p, events), true, (r) => r.row)).stored,
        delete: (m) => announce(`s:${m}`, 'statusDeleteAnnounced', [m]),
      },
      events: {
        append: (e: BootEvent, at = Date.now()) => write(async () => (await insertEvents(exec, [{ event: e, at }]))[0]),
        appendMany: (batch) => write(() => insertEvents(exec, batch)),
        list: ({ machine, afterId = 0, limit = 1000 }) =>
          read(async () => (machine ? await exec('eventsMachine', [machine, afterId, limit]) : await exec('eventsAll', [afterId, limit])).rows.map(toEvent)),
        tail: ({ machine, since, limit }) => read(async () => (await exec('eventsTail', [machine, since, limit])).rows.map(toEvent)),
        prune: (before, limit) => write(async () => (await exec('eventsPrune', [before, limit])).rowCount ?? 0),
      },
      tokens: {
        put: async (t: InstallToken) => void (await announce(`t:${t.machine}`, 'tokenPutAnnounced', [t.token, t.machine, t.installId, t.expiresAt, t.revokedAt ?? null])),
        get: (token) => {
          const fn = async () => toToken(first(await exec('tokenGet', [token])));
          return read(() => (cache ? cache.token(token, fn) : fn()));
        },
        current: (machine) => {
          const fn = async () => toToken(first(await exec('tokenCurrent', [machine])));
          return read(() => (cache ? cache.currentToken(machine, fn) : fn()));
        },
        revokeForMachine: async (m, at) => void (await announce(`t:${m}`, 'tokenRevokeMachineAnnounced', [at, m])),
        deleteForMachine: async (m) => void (await announce(`t:${m}`, 'tokenDeleteMachineAnnounced', [m])),
      },
      leases: {
        byMac: (mac) => read(async () => (await exec('leaseByMac', [mac])).rows.map(toLease)[0]),
        byIp: (ip) => read(async () => (await exec('leaseByIp', [ip])).rows.map(toLease)[0]),
        list: (subnet) => read(async () => (subnet ? await exec('leaseListSubnet', [subnet]) : await exec('leaseList', [])).rows.map(toLease)),
        put: (l) => write(async () => refuseHeld(await putLeases(exec, [l]))),
        putMany: (ls) => write(() => (ls.length ? putLeases(exec, ls) : Promise.resolve([]))),
        delete: (mac) => write(async () => void (await exec('leaseDelete', [mac]))),
      },
      hardware: {
        get: (machine) =>
          read(async () => {
            const r = first(await exec('hardwareGet', [machine]));
            return r && { inventory: JSON.parse(r.body as string), source: r.source as HardwareRecord['source'], reportedAt: r.reported_at as number };
          }),
        put: (machine, rec) => write(() => atomic((x) => putHardware(x, machine, rec))),
      },
      rules: {
        get: (name) => read(async () => body<Rule>(await exec('ruleGet', [name]))),
        list: () => read(async () => bodies<Rule>(await exec('ruleList', []))),
        put: (r) => write(async () => void (await exec('ruleUpsert', [r.name, r.priority, JSON.stringify(r), Date.now()]))),
        delete: (name) => write(async () => changed(await exec('ruleDelete', [name]))),
      },
      discovered: {
        get: (id) =>
          read(async () => {
            const r = first(await exec('discoveredGet', [id]));
            return r && (JSON.parse(r.body as string) as DiscoveredEntry);
          }),
        list: () => read(async () => (await exec('discoveredList', [])).rows.map((r) => JSON.parse(r.body as string) as DiscoveredEntry)),
        put: (e) => write(async () => void (await exec('discoveredUpsert', [e.id, e.state, JSON.stringify(e), e.seenAt]))),
        delete: (id) => write(async () => changed(await exec('discoveredDelete', [id]))),
      },
      discoveryTokens: {
        put: (t) => write(() => atomic((x) => putDiscoveryToken(x, t))),
        get: (token) => read(async () => toDiscoveryToken(first(await exec('discoveryTokenGet', [token])))),
        byMac: (mac) => read(async () => toDiscoveryToken(first(await exec('discoveryTokenByMac', [mac])))),
        prune: (before, limit) => write(async () => (await exec('discoveryTokenPrune', [before, limit])).rowCount ?? 0),
      },
      retiredMacs: {
        put: (macs, machine, at) => write(async () => void (macs.length && (await exec('retiredPut', [[...new Set(macs)], machine, at])))),
        get: (mac) =>
          read(async () => {
            const r = first(await exec('retiredGet', [mac]));
            return r && { machine: r.machine as string, at: r.retired_at as number };
          }),
      },
      replacements: {
        append: (r) => write(async () => void (await exec('replacementAppend', [r.machine, r.at, JSON.stringify(r)]))),
        list: (machine) => read(async () => (await exec('replacementList', [machine])).rows.map((r) => JSON.parse(r.body as string) as Replacement)),
      },
    };
  };

  let closing: Promise<void> | undefined;
  const direct = <T>(fn: () => Promise<T>): Promise<T> => mapped(fn());
  const outside = repos({
    exec: poolExec,
    atomic: ownTransaction,
    write: direct,
    read: direct,
    cache: sharedCache,
    writing: (payload) => sharedCache.writing(payload),
    wrote: (payload, mark, value) => sharedCache.wrote(payload, mark, value),
  });

  const rolledBack = () => new StoreUnavailable('the transaction was rolled back after a write failed: nothing of it was written');
  const inside = (tx: TxState): Repos => {
    const exec = clientExec(tx.client);
    let savepoints = 0;
    // Calls through tx run one after the other: a savepoint's statements must not interleave
    // with another call's on the one connection.
    const serial = <T>(fn: () => Promise<T>): Promise<T> => {
      const run = tx.queue.then(async () => {
        if (tx.ended) throw new Error('the transaction has ended: its repos cannot be used any more');
        if (tx.aborted) throw rolledBack();
        try {
          return await fn();
        } catch (err) {
          if (!(err instanceof ConflictError)) tx.aborted = true;
          throw unavailable(err);
        }
      });
      tx.queue = run.catch(() => undefined);
      return run;
    };
    const atomic = async <T>(fn: (exec: Exec) => Promise<T>): Promise<T> => {
      const name = `s${++savepoints}`;
      await tx.client.query(`SAVEPOINT ${name}`);
      try {
        const result = await fn(exec);
        await tx.client.query(`RELEASE SAVEPOINT ${name}`);
        return result;
      } catch (err) {
        if (isUnavailable(err)) throw err;
        await tx.client.query(`ROLLBACK TO SAVEPOINT ${name}`);
        await tx.client.query(`RELEASE SAVEPOINT ${name}`);
        throw err;
      }
    };
    // Forgotten (or kept) once the transaction ends: until then other readers see the committed rows.
    const touched = (payload: string) => tx.touched.get(payload) ?? tx.touched.set(payload, {}).get(payload)!;
    return repos({
      exec,
      atomic,
      write: serial,
      read: serial,
      writing: (payload) => (touched(payload).mark ??= sharedCache.writing(payload)),
      wrote: (payload, _mark, value) => void (touched(payload).value = value),
    });
  };

  return {
    ...outside,
    watchEvents: (onNew) => watcher.watch(onNew),
    sharedValue: (name, candidate) =>
      direct(async () => {
        await poolExec('sharedValuePut', [name, candidate, Date.now()]);
        return first(await poolExec('sharedValueGet', [name]))!.value as string;
      }),
    liveInstances: instanceLiveness((text, values) => mapped(pool.query(text, values))),
    claimSubnets: (subnets, { standby }) =>
      claimSubnets(subnets, {
        standby,
        ...opts.instanceLock,
        client: ownConnection(driver, url, opts, 'dhcp'),
      }),
    check: () =>
      direct(async () => {
        if (nameLock?.lost) throw new StoreUnavailable(`instance ${instance} does not hold its name on the database now: ${nameLock.lost}`);
        await poolExec('heartbeat', [Date.now()]);
      }),
    async transaction(fn, { exclusive } = {}) {
      const client = await mapped(checkout(pool));
      let broken: Error | undefined;
      try {
        await mapped(client.query('BEGIN'));
        const tx: TxState = { client, aborted: false, ended: false, queue: Promise.resolve(), touched: new Map() };
        let committed = false;
        try {
          if (exclusive !== undefined) await mapped(client.query('SELECT pg_advisory_xact_lock($1)', [lockKey('transaction', exclusive)]));
          const result = await fn(inside(tx));
          await tx.queue;
          tx.ended = true;
          if (tx.aborted) throw rolledBack();
          await mapped(client.query('COMMIT'));
          committed = true;
          return result;
        } catch (err) {
          tx.ended = true;
          await tx.queue;
          await client.query('ROLLBACK').catch((e) => (broken = e));
          throw err;
        } finally {
          // Committed or not, what it wrote may be kept from reads made while it ran.
          for (const [payload, { mark, value }] of tx.touched) sharedCache.wrote(payload, mark, committed ? value : undefined);
        }
      } catch (err) {
        if (isUnavailable(err)) broken ??= err as Error;
        throw err;
      } finally {
        client.release(broken);
      }
    },
    // Once: a second close (a teardown after an explicit one) waits for the first.
    close: () =>
      (closing ??= (async () => {
        try {
          await watcher.close();
          await pool.end();
        } finally {
          await nameLock?.release();
        }
      })()),
  };
}

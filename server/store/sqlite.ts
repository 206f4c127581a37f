import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ConflictError, StoreUnavailable } from '../model/errors.js';
import type { BootEvent, StoredEvent } from '../model/events.js';
import type { Lease } from '../model/lease.js';
import type { Machine } from '../model/machine.js';
import type { Profile } from '../model/profile.js';
import type { MachineStatus } from '../model/status.js';
import type { InstallToken } from '../model/token.js';
import type { DiscoveredEntry, Replacement, Rule } from '../model/discovery.js';
import type { HardwareRecord } from '../model/hardware.js';
import { startCheckpointer } from './checkpointer.js';
import { walSync } from './wal-sync.js';
import { MIGRATIONS } from './migrations.js';
import { parsedBodies, refuseHeld, type Row, storedEvent, toDiscoveryToken, toEvent, toLease, toToken } from './rows.js';
import type { Repos, Store, StoreOptions } from './store.js';


function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
  const done = new Set((db.prepare('SELECT version FROM schema_migrations').all() as Row[]).map((r) => r.version as number));
  MIGRATIONS.forEach((sql, i) => {
    if (done.has(i + 1)) return;
    db.transaction(() => {
      db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(i + 1, Date.now());
    })();
  });
}

/** SQLite's codes for a database that cannot take writes now; anything else is a bug or a conflict. */
const UNAVAILABLE = /^SQLITE_(FULL|IOERR|READONLY|BUSY|LOCKED|CANTOPEN|CORRUPT|NOTADB|PROTOCOL)/;

function unavailableOnIoError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE.test(code)) throw new StoreUnavailable(`the database cannot take writes: ${(err as Error).message} (${code})`, { cause: err });
    throw err;
  }
}

/**
 * Rows by key, read from SQLite once and then served from memory. The boot path asks for the
 * same token, status, machine and profile rows on every request; even a cached statement costs
 * a read transaction (two fcntl locks in WAL mode) each time. Only rows that exist are kept, so
 * made-up tokens cannot fill it. The store's writes forget what they may change before they
 * write (see openSqliteStore), which keeps an entry never older than its row.
 */
function rowCache<V>(read: (key: string) => V | undefined, max = 4096) {
  const rows = new Map<string, V>();
  return {
    get(key: string): V | undefined {
      let v = rows.get(key);
      if (v === undefined) {
        v = read(key);
        if (v === undefined) return undefined;
        if (rows.size >= max) rows.delete(rows.keys().next().value!);
        rows.set(key, v);
      }
      return v;
    },
    forget(key: string): void {
      rows.delete(key);
    },
    forgetWhere(match: (v: V) => boolean): void {
      for (const [k, v] of rows) if (match(v)) rows.delete(k);
    },
  };
}

/**
 * The embedded store. better-sqlite3 is synchronous: statements run on the event loop, and a
 * write's promise resolves once it is on disk (wal-sync.ts: the WAL is synced off the event
 * loop, one fsync for every commit made meanwhile), so nothing acknowledged to a client is lost
 * by kill -9 nor by a power cut. The exception is events.appendMany: it resolves at its commit
 * (see burst below).
 *
 * Events are stamped with opts.instance, the name of the kickstand that writes them (config
 * `instance`); one SQLite file has one kickstand (the data-directory lock, data-dir-lock.ts).
 *
 * Token, status, machine and profile reads by key come from memory (rowCache). That holds because
 * this store is the only writer of the file while kickstand runs: the sqlite3 CLI may read it
 * (normal locking, no EXCLUSIVE), but a row changed behind kickstand's back would not be seen.
 */
export async function openSqliteStore(file: string, opts: StoreOptions = {}): Promise<Store> {
  const { instance } = opts;
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // NORMAL: COMMIT does not fsync; walSync does, off the event loop, before a write resolves.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  const wal = file === ':memory:' ? undefined : walSync(file);
  const durable = async () => {
    try {
      await wal?.durable();
    } catch (err) {
      throw new StoreUnavailable(`the write committed, but the disk did not confirm it: ${(err as Error).message}`, { cause: err });
    }
  };
  // Checkpoints run in a worker, off the event loop (see checkpointer.ts). This connection's own
  // automatic checkpoint stays as the fallback, at 10,000 pages (40 MB) the worker keeps it from.
  const checkpointer =
    file === ':memory:' ? undefined : startCheckpointer(file, { onError: (message) => process.emitWarning(`WAL checkpoint failed: ${message}`, 'KickstandStoreWarning') });
  db.pragma('wal_autocheckpoint = 10000');

  const q = {
    machineGet: db.prepare('SELECT body FROM machines WHERE name = ?'),
    machineByMac: db.prepare('SELECT m.body FROM machine_macs x JOIN machines m ON m.name = x.machine WHERE x.mac = ?'),
    machineList: db.prepare('SELECT body FROM machines ORDER BY name'),
    machineUpsert: db.prepare(
      'INSERT INTO machines (name, profile, body, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET profile = excluded.profile, body = excluded.body, updated_at = excluded.updated_at',
    ),
    macOwner: db.prepare('SELECT machine FROM machine_macs WHERE mac = ?'),
    macsDelete: db.prepare('DELETE FROM machine_macs WHERE machine = ?'),
    macInsert: db.prepare('INSERT INTO machine_macs (mac, machine) VALUES (?, ?)'),
    machineDelete: db.prepare('DELETE FROM machines WHERE name = ?'),
    statusDelete: db.prepare('DELETE FROM status WHERE machine = ?'),
    profileGet: db.prepare('SELECT body FROM profiles WHERE name = ?'),
    profileList: db.prepare('SELECT body FROM profiles ORDER BY name'),
    profileUpsert: db.prepare(
      'INSERT INTO profiles (name, body, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at',
    ),
    profileUsers: db.prepare('SELECT name FROM machines WHERE profile = ? ORDER BY name LIMIT 3'),
    profileDelete: db.prepare('DELETE FROM profiles WHERE name = ?'),
    statusGet: db.prepare('SELECT body FROM status WHERE machine = ?'),
    statusList: db.prepare('SELECT body FROM status ORDER BY machine'),
    statusVersion: db.prepare('SELECT version FROM status WHERE machine = ?'),
    statusUpsert: db.prepare(
      'INSERT INTO status (machine, body, version) VALUES (?, ?, ?) ON CONFLICT(machine) DO UPDATE SET body = excluded.body, version = excluded.version',
    ),
    eventsAll: db.prepare('SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?'),
    eventsMachine: db.prepare('SELECT * FROM events WHERE machine = ? AND id > ? ORDER BY id LIMIT ?'),
    eventsTail: db.prepare('SELECT * FROM (SELECT * FROM events WHERE machine = ? AND at >= ? ORDER BY id DESC LIMIT ?) ORDER BY id'),
    eventsPrune: db.prepare('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < ? ORDER BY id LIMIT ?)'),
    heartbeat: db.prepare('INSERT INTO heartbeat (id, at) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET at = excluded.at'),
    tokenPut: db.prepare('INSERT OR REPLACE INTO tokens (token, machine, install_id, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?)'),
    tokenRevokeMachine: db.prepare('UPDATE tokens SET revoked_at = ? WHERE machine = ? AND revoked_at IS NULL'),
    tokenGet: db.prepare('SELECT * FROM tokens WHERE token = ?'),
    tokenCurrent: db.prepare('SELECT * FROM tokens WHERE machine = ? ORDER BY rowid DESC LIMIT 1'),
    tokenDeleteMachine: db.prepare('DELETE FROM tokens WHERE machine = ?'),
    leaseByMac: db.prepare('SELECT * FROM leases WHERE mac = ?'),
    leaseByIp: db.prepare('SELECT * FROM leases WHERE ip = ?'),
    leaseList: db.prepare('SELECT * FROM leases ORDER BY ip'),
    leaseListSubnet: db.prepare('SELECT * FROM leases WHERE subnet = ? ORDER BY ip'),
    // mayTakeAddress (model/lease.ts) in SQL: the other MAC's lease of the address goes only when it may be taken.
    leaseFreeIp: db.prepare("DELETE FROM leases WHERE ip = ? AND mac <> ? AND (state = 'released' OR expires_at <= ? OR ?)"),
    leaseHolder: db.prepare('SELECT * FROM leases WHERE ip = ? AND mac <> ?'),
    leasePut: db.prepare(
      `INSERT INTO leases (mac, ip, subnet, state, expires_at, hostname, client_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(mac) DO UPDATE SET ip = excluded.ip, subnet = excluded.subnet, state = excluded.state, expires_at = excluded.expires_at,
       hostname = excluded.hostname, client_id = excluded.client_id, updated_at = excluded.updated_at`,
    ),
    leaseDelete: db.prepare('DELETE FROM leases WHERE mac = ?'),
    hardwareGet: db.prepare('SELECT body, source, reported_at FROM hardware WHERE machine = ?'),
    hardwareUpsert: db.prepare(
      'INSERT INTO hardware (machine, body, source, reported_at) VALUES (?, ?, ?, ?) ON CONFLICT(machine) DO UPDATE SET body = excluded.body, source = excluded.source, reported_at = excluded.reported_at',
    ),
    ruleGet: db.prepare('SELECT body FROM rules WHERE name = ?'),
    ruleList: db.prepare('SELECT body FROM rules ORDER BY priority DESC, name'),
    ruleUpsert: db.prepare(
      'INSERT INTO rules (name, priority, body, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET priority = excluded.priority, body = excluded.body, updated_at = excluded.updated_at',
    ),
    ruleDelete: db.prepare('DELETE FROM rules WHERE name = ?'),
    discoveredGet: db.prepare('SELECT body FROM discovered WHERE id = ?'),
    discoveredList: db.prepare('SELECT body FROM discovered ORDER BY seen_at DESC, id'),
    discoveredUpsert: db.prepare(
      'INSERT INTO discovered (id, state, body, seen_at) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state, body = excluded.body, seen_at = excluded.seen_at',
    ),
    discoveredDelete: db.prepare('DELETE FROM discovered WHERE id = ?'),
    // REPLACE also removes the row holding the same MAC (UNIQUE): one live discovery token per MAC.
    discoveryTokenPut: db.prepare('INSERT OR REPLACE INTO discovery_tokens (token, mac, ip, expires_at, entry_id, revoked_at) VALUES (?, ?, ?, ?, ?, ?)'),
    discoveryTokenGet: db.prepare('SELECT * FROM discovery_tokens WHERE token = ?'),
    discoveryTokenByMac: db.prepare('SELECT * FROM discovery_tokens WHERE mac = ?'),
    retiredPut: db.prepare('INSERT OR REPLACE INTO retired_macs (mac, machine, retired_at) VALUES (?, ?, ?)'),
    retiredGet: db.prepare('SELECT machine, retired_at FROM retired_macs WHERE mac = ?'),
    replacementAppend: db.prepare('INSERT INTO replacements (machine, at, body) VALUES (?, ?, ?)'),
    replacementList: db.prepare('SELECT body FROM replacements WHERE machine = ? ORDER BY id'),
    discoveryTokenPrune: db.prepare('DELETE FROM discovery_tokens WHERE token IN (SELECT token FROM discovery_tokens WHERE expires_at < ? ORDER BY expires_at LIMIT ?)'),
  };
  const parsed = parsedBodies();
  const body = <T>(r: unknown): T | undefined => (r ? (parsed((r as Row).body as string) as T) : undefined);
  const cached = {
    machines: rowCache((name) => body<Machine>(q.machineGet.get(name))),
    profiles: rowCache((name) => body<Profile>(q.profileGet.get(name))),
    status: rowCache((machine) => body<MachineStatus>(q.statusGet.get(machine))),
    tokens: rowCache((token) => toToken(q.tokenGet.get(token))),
    /** by machine: the token written last (each kickstart fetch and install script reads it) */
    currentTokens: rowCache((machine) => toToken(q.tokenCurrent.get(machine))),
  };
  const forgetTokensOf = (machine: string) => {
    cached.tokens.forgetWhere((t) => t.machine === machine);
    cached.currentTokens.forget(machine);
  };

  // putMachine and putStatus read before they write: run as BEGIN IMMEDIATE (a savepoint inside an
  // open transaction), so the write lock is taken first and a lock held by another process is
  // waited for (busy_timeout). A deferred transaction that already reads gets SQLITE_BUSY at once.
  const putMachine = db.transaction((m: Machine) => {
    cached.machines.forget(m.name);
    for (const mac of m.macs) {
      const owner = (q.macOwner.get(mac) as Row | undefined)?.machine;
      if (owner !== undefined && owner !== m.name) throw new ConflictError(`MAC ${mac} already belongs to machine ${owner}`, 'macs');
    }
    q.machineUpsert.run(m.name, m.profile, JSON.stringify(m), Date.now());
    q.macsDelete.run(m.name);
    for (const mac of m.macs) q.macInsert.run(mac, m.name);
  });
  const deleteMachine = (name: string) => {
    cached.machines.forget(name);
    return q.machineDelete.run(name).changes > 0;
  };
  // A burst of events is written by a few multi-row INSERTs (64, 16, 4, 1 rows) rather than one
  // statement per event: 30–40 % less time per row at the boot path's burst sizes (≈ 32 events).
  const eventInserts = new Map(
    [64, 16, 4, 1].map((n) => [
      n,
      db.prepare(`INSERT INTO events (machine, at, level, kind, message, mac, ip, data, instance) VALUES ${Array(n).fill('(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`),
    ]),
  );
  const eventRow = ({ event: e, at }: { event: BootEvent; at: number }) => [
    e.machine ?? null,
    at,
    e.level,
    e.kind,
    e.message,
    e.mac ?? null,
    e.ip ?? null,
    e.data ? JSON.stringify(e.data) : null,
    instance ?? null,
  ];
  const insertEvents = (batch: { event: BootEvent; at: number }[]): StoredEvent[] => {
    const stored: StoredEvent[] = [];
    for (const [n, insert] of eventInserts)
      while (batch.length - stored.length >= n) {
        const rows = batch.slice(stored.length, stored.length + n);
        const last = Number(insert.run(rows.flatMap(eventRow)).lastInsertRowid);
        // AUTOINCREMENT numbers the rows of one INSERT consecutively, in VALUES order.
        rows.forEach((b, i) => stored.push(storedEvent(b.event, last - n + 1 + i, b.at, instance)));
      }
    return stored;
  };
  const appendEvents = db.transaction(insertEvents);
  const putStatus = db.transaction((s: MachineStatus, events: { event: BootEvent; at: number }[]) => {
    cached.status.forget(s.machine);
    const current = (q.statusVersion.get(s.machine) as Row | undefined)?.version as number | undefined;
    if ((current ?? 0) !== s.version - 1)
      throw new ConflictError(`status of ${s.machine} changed concurrently (stored version ${current}, writing ${s.version})`, 'version');
    q.statusUpsert.run(s.machine, JSON.stringify(s), s.version);
    return insertEvents(events);
  });
  /** Writes the lease, or returns the lease of the other MAC that holds its address. */
  const putLease = (l: Lease): Lease | undefined => {
    q.leaseFreeIp.run(l.ip, l.mac, l.updatedAt, l.reserved ? 1 : 0);
    const holder = q.leaseHolder.get(l.ip, l.mac) as Row | undefined;
    if (holder) return toLease(holder);
    q.leasePut.run(l.mac, l.ip, l.subnet, l.state, l.expiresAt, l.hostname ?? null, l.clientId ?? null, l.updatedAt);
    return undefined;
  };
  const putLeases = db.transaction((ls: Lease[]) => ls.flatMap((l) => putLease(l) ?? []));

  const repos = (write: <T>(fn: () => T) => Promise<T>, burst: <T>(fn: () => T) => Promise<T>): Repos => ({
    machines: {
      get: async (name) => cached.machines.get(name),
      byMac: async (mac) => body<Machine>(q.machineByMac.get(mac)),
      list: async () => (q.machineList.all() as Row[]).map((r) => body<Machine>(r)!),
      put: (m) => write(() => putMachine.immediate(m)),
      delete: (name) => write(() => deleteMachine(name)),
    },
    profiles: {
      get: async (name) => cached.profiles.get(name),
      list: async () => (q.profileList.all() as Row[]).map((r) => body<Profile>(r)!),
      put: (p) =>
        write(() => {
          cached.profiles.forget(p.name);
          q.profileUpsert.run(p.name, JSON.stringify(p), Date.now());
        }),
      delete: (name) =>
        write(() => {
          cached.profiles.forget(name);
          const users = (q.profileUsers.all(name) as Row[]).map((r) => r.name);
          if (users.length) throw new ConflictError(`profile ${name} is used by machine(s) ${users.join(', ')}`, 'name');
          return q.profileDelete.run(name).changes > 0;
        }),
    },
    status: {
      get: async (m) => cached.status.get(m),
      list: async () => (q.statusList.all() as Row[]).map((r) => body<MachineStatus>(r)!),
      put: (s, events = []) => write(() => putStatus.immediate(s, events)),
      delete: (m) =>
        write(() => {
          cached.status.forget(m);
          return q.statusDelete.run(m).changes > 0;
        }),
    },
    events: {
      append: (e: BootEvent, at = Date.now()) => write(() => insertEvents([{ event: e, at }])[0]),
      appendMany: (batch) => burst(() => appendEvents(batch)),
      list: async ({ machine, afterId = 0, limit = 1000 }) =>
        ((machine ? q.eventsMachine.all(machine, afterId, limit) : q.eventsAll.all(afterId, limit)) as Row[]).map(toEvent),
      tail: async ({ machine, since, limit }) => (q.eventsTail.all(machine, since, limit) as Row[]).map(toEvent),
      prune: (before, limit) => write(() => q.eventsPrune.run(before, limit).changes),
    },
    tokens: {
      put: (t: InstallToken) =>
        write(() => {
          cached.tokens.forget(t.token);
          cached.currentTokens.forget(t.machine);
          q.tokenPut.run(t.token, t.machine, t.installId, t.expiresAt, t.revokedAt ?? null);
        }),
      get: async (token) => cached.tokens.get(token),
      current: async (machine) => cached.currentTokens.get(machine),
      revokeForMachine: (m, at) =>
        write(() => {
          forgetTokensOf(m);
          q.tokenRevokeMachine.run(at, m);
        }),
      deleteForMachine: (m) =>
        write(() => {
          forgetTokensOf(m);
          q.tokenDeleteMachine.run(m);
        }),
    },
    leases: {
      byMac: async (mac) => {
        const r = q.leaseByMac.get(mac) as Row | undefined;
        return r && toLease(r);
      },
      byIp: async (ip) => {
        const r = q.leaseByIp.get(ip) as Row | undefined;
        return r && toLease(r);
      },
      list: async (subnet) => ((subnet ? q.leaseListSubnet.all(subnet) : q.leaseList.all()) as Row[]).map(toLease),
      put: (l) => write(() => void refuseHeld(putLeases([l]))),
      putMany: (ls) => write(() => putLeases(ls)),
      delete: (mac) => write(() => void q.leaseDelete.run(mac)),
    },
    hardware: {
      get: async (machine) => {
        const r = q.hardwareGet.get(machine) as Row | undefined;
        return r && { inventory: JSON.parse(r.body as string), source: r.source as HardwareRecord['source'], reportedAt: r.reported_at as number };
      },
      put: (machine, rec) =>
        write(() => {
          try {
            q.hardwareUpsert.run(machine, JSON.stringify(rec.inventory), rec.source, rec.reportedAt);
          } catch (err) {
            if ((err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') throw new ConflictError(`no machine named ${machine}`, 'machine');
            throw err;
          }
        }),
    },
    rules: {
      get: async (name) => body<Rule>(q.ruleGet.get(name)),
      list: async () => (q.ruleList.all() as Row[]).map((r) => body<Rule>(r)!),
      put: (r) => write(() => void q.ruleUpsert.run(r.name, r.priority, JSON.stringify(r), Date.now())),
      delete: (name) => write(() => q.ruleDelete.run(name).changes > 0),
    },
    discovered: {
      get: async (id) => {
        const r = q.discoveredGet.get(id) as Row | undefined;
        return r && (JSON.parse(r.body as string) as DiscoveredEntry);
      },
      list: async () => (q.discoveredList.all() as Row[]).map((r) => JSON.parse(r.body as string) as DiscoveredEntry),
      put: (e) => write(() => void q.discoveredUpsert.run(e.id, e.state, JSON.stringify(e), e.seenAt)),
      delete: (id) => write(() => q.discoveredDelete.run(id).changes > 0),
    },
    discoveryTokens: {
      put: (t) => write(() => void q.discoveryTokenPut.run(t.token, t.mac, t.ip, t.expiresAt, t.entryId ?? null, t.revokedAt ?? null)),
      get: async (token) => toDiscoveryToken(q.discoveryTokenGet.get(token)),
      byMac: async (mac) => toDiscoveryToken(q.discoveryTokenByMac.get(mac)),
      prune: (before, limit) => write(() => q.discoveryTokenPrune.run(before, limit).changes),
    },
    retiredMacs: {
      put: (macs, machine, at) => write(() => macs.forEach((mac) => q.retiredPut.run(mac, machine, at))),
      get: async (mac) => {
        const r = q.retiredGet.get(mac) as Row | undefined;
        return r && { machine: r.machine as string, at: r.retired_at as number };
      },
    },
    replacements: {
      append: (r) => write(() => void q.replacementAppend.run(r.machine, r.at, JSON.stringify(r))),
      list: async (machine) => (q.replacementList.all(machine) as Row[]).map((r) => JSON.parse(r.body as string) as Replacement),
    },
  });

  // One connection serves everyone: while a transaction is open, a write from elsewhere would
  // land inside it (and be rolled back with it), so it waits for the transaction to end.
  let open: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  const committed = async <T>(fn: () => T): Promise<T> => {
    while (open) await open;
    return unavailableOnIoError(fn);
  };
  const gated = async <T>(fn: () => T): Promise<T> => {
    const result = await committed(fn);
    await durable();
    return result;
  };
  // On some errors (SQLITE_FULL, _IOERR, _NOMEM) SQLite rolls the whole transaction back by itself.
  // fn may catch the StoreUnavailable and go on: its later writes must not be committed one by one.
  const rolledBack = () => new StoreUnavailable('the transaction was rolled back after a write failed: nothing of it was written');
  const inTransaction = async <T>(fn: () => T): Promise<T> => {
    if (!db.inTransaction) throw rolledBack();
    return unavailableOnIoError(fn);
  };
  const inside = repos(inTransaction, inTransaction);

  return {
    // Batches of reported events are fire-and-forget (no client waits for them) and come with
    // every boot request: they resolve at their commit, and the next sync takes them to disk.
    // kill -9 loses nothing of them (the commit is in the WAL); a power cut, the last few.
    ...repos(gated, committed),
    check: () => gated(() => void q.heartbeat.run(Date.now())),
    async transaction(fn) {
      while (open) await open;
      let end!: () => void;
      open = new Promise((resolve) => (end = resolve));
      let result: Awaited<ReturnType<typeof fn>>;
      try {
        unavailableOnIoError(() => db.exec('BEGIN IMMEDIATE'));
        try {
          result = await fn(inside);
          if (!db.inTransaction) throw rolledBack();
          unavailableOnIoError(() => db.exec('COMMIT'));
        } catch (err) {
          if (db.inTransaction) db.exec('ROLLBACK');
          // Reads made meanwhile may have cached rows that were never committed.
          for (const c of Object.values(cached)) c.forgetWhere(() => true);
          throw err;
        }
      } finally {
        open = undefined;
        end();
      }
      // Outside the gate: the next transaction runs meanwhile, and its commit shares a sync.
      await durable();
      return result;
    },
    // Once: a second close (a teardown after an explicit one) waits for the first.
    close: () =>
      (closing ??= (async () => {
        await wal?.close();
        await checkpointer?.stop();
        db.close();
      })()),
  };
}

/**
 * The two candidate PostgreSQL drivers side by side on the store's hot operations, against the
 * same throwaway PostgreSQL 15 (test/helpers/postgres.ts), the store's schema
 * (server/store/postgres-migrations.ts) and the store's own statement texts (SQL in
 * server/store/postgres.ts):
 *
 *   status   BEGIN; SELECT the status row; UPDATE it at version + 1 (optimistic); COMMIT
 *            (the lifecycle writer's read-then-write in a transaction)
 *   events   one INSERT of 32 events (arrays through unnest) under the event-id advisory lock,
 *            RETURNING their ids (events.appendMany of a boot burst)
 *   byMac    SELECT the machine body through machine_macs (the DHCP and boot path's first read)
 *
 * each run by 1 caller (latency) and by 16 at once over a pool of 10 (throughput), the drivers
 * taking turns, RUNS times; the medians are printed. Both drivers prepare the statements
 * (pg: named queries, as the store does; postgres: its default).
 *
 *   node --import tsx bench/store/drivers.ts [RUNS=5] [OPS=2000] [--durable]
 *
 * --durable keeps fsync on (a production server); without it fsync is off, which shows the
 * drivers' own cost rather than the disk's.
 */
import pg from 'pg';
import postgres from 'postgres';
import { PG_MIGRATIONS } from '../../server/store/postgres-migrations.js';
import { SQL } from '../../server/store/postgres.js';
import { startPostgres } from '../../test/helpers/postgres.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const runs = Number(args[0] ?? 5);
const ops = Number(args[1] ?? 2000);
const durable = process.argv.includes('--durable');
const POOL = 10;
const CONCURRENCY = 16;
const MACHINES = 200;

interface Driver {
  name: string;
  status(machine: string): Promise<void>;
  events(batch: unknown[][]): Promise<number[]>;
  byMac(mac: string): Promise<string | undefined>;
  end(): Promise<void>;
}

const mac = (i: number) => `52:54:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
const statusBody = (m: string, version: number) =>
  JSON.stringify({ machine: m, state: 'installing', netboot: 'install', stateSince: Date.now(), hostKeys: [], version, installId: 'i-1', deadline: 9e12 });
const EVENT_COLUMNS = ['machine', 'at', 'level', 'kind', 'message', 'mac', 'ip', 'data'];
const columns = (batch: unknown[][]) => EVENT_COLUMNS.map((_, c) => batch.map((row) => row[c]));

function pgDriver(url: string): Driver {
  const pool = new pg.Pool({ connectionString: url, max: POOL });
  pool.on('error', () => undefined);
  return {
    name: 'pg',
    async status(machine) {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        const r = await c.query({ name: 'status-get', text: 'SELECT body, version FROM status WHERE machine = $1', values: [machine] });
        const v = Number(r.rows[0].version) + 1;
        const u = await c.query({ name: 'status-put', text: SQL.statusUpdate, values: [machine, statusBody(machine, v), v] });
        if (u.rowCount !== 1) throw new Error('version conflict');
        await c.query('COMMIT');
      } catch (err) {
        await c.query('ROLLBACK');
        throw err;
      } finally {
        c.release();
      }
    },
    async events(batch) {
      const r = await pool.query({ name: 'events-insert', text: SQL.eventsInsert, values: [...columns(batch), null] });
      return r.rows.map((x) => Number(x.id));
    },
    async byMac(m) {
      const r = await pool.query({ name: 'by-mac', text: SQL.machineByMac, values: [m] });
      return r.rows[0]?.body;
    },
    end: () => pool.end(),
  };
}

function postgresDriver(url: string): Driver {
  const sql = postgres(url, { max: POOL, onnotice: () => undefined });
  return {
    name: 'postgres',
    async status(machine) {
      await sql.begin(async (sql) => {
        const [row] = await sql`SELECT body, version FROM status WHERE machine = ${machine}`;
        const v = Number(row.version) + 1;
        const u = await sql.unsafe(SQL.statusUpdate, [machine, statusBody(machine, v), v], { prepare: true });
        if (u.count !== 1) throw new Error('version conflict');
      });
    },
    async events(batch) {
      const rows = await sql.unsafe(SQL.eventsInsert, [...columns(batch), null] as never[], { prepare: true });
      return rows.map((x) => Number(x.id));
    },
    async byMac(m) {
      const [row] = await sql.unsafe(SQL.machineByMac, [m], { prepare: true });
      return row?.body;
    },
    end: () => sql.end({ timeout: 5 }),
  };
}

/** ops calls of op by `callers` callers at once; returns ops/s and the median latency in ms. */
async function measure(op: (i: number) => Promise<unknown>, callers: number) {
  let next = 0;
  const lat: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < ops) {
        const i = next++;
        const s = performance.now();
        await op(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { opsPerSec: ops / secs, p50: lat[Math.floor(lat.length / 2)] };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const server = await startPostgres({ durable });
try {
  const db = await server.createDatabase();
  server.psql(PG_MIGRATIONS.join('\n'), db.split('/').pop());
  const seed = [
    "INSERT INTO profiles VALUES ('p1', '{}', 0)",
    `INSERT INTO machines SELECT 'm' || i, 'p1', '${JSON.stringify({ name: 'mX', profile: 'p1', macs: ['52:54:00:00:00:01'], params: { rack: 'a1', u: 12 } })}', 0 FROM generate_series(0, ${MACHINES - 1}) i`,
    ...Array.from({ length: MACHINES }, (_, i) => `INSERT INTO machine_macs VALUES ('${mac(i)}', 'm${i}')`),
    `INSERT INTO status SELECT 'm' || i, '{}', 1 FROM generate_series(0, ${MACHINES - 1}) i`,
  ];
  server.psql(seed.join(';\n'), db.split('/').pop());
  const batch = (i: number) =>
    Array.from({ length: 32 }, (_, j) => [`m${(i + j) % MACHINES}`, Date.now(), 'info', 'dhcp', `DHCPREQUEST from ${mac(j)}`, mac(j), '10.0.0.5', j % 4 ? null : JSON.stringify({ xid: i * 32 + j })]);
  const drivers = [pgDriver(db), postgresDriver(db)];
  const cases: [string, (d: Driver) => (i: number) => Promise<unknown>][] = [
    // each caller works on machines of its own (i % MACHINES): no two update one row at once
    ['status get+put tx', (d) => (i) => d.status(`m${i % MACHINES}`)],
    ['events appendMany 32', (d) => (i) => d.events(batch(i))],
    ['machine byMac', (d) => (i) => d.byMac(mac(i % MACHINES))],
  ];
  const results = new Map<string, number[][]>();
  // warm-up: connections opened, statements prepared
  for (const d of drivers) for (const [, make] of cases) await measure(make(d), CONCURRENCY);
  for (let run = 1; run <= runs; run++)
    for (const [label, make] of cases)
      for (const callers of [1, CONCURRENCY])
        for (const d of drivers) {
          const r = await measure(make(d), callers);
          const key = `${label}\t${callers}\t${d.name}`;
          results.set(key, [...(results.get(key) ?? []), [r.opsPerSec, r.p50]]);
        }
  console.log(`PostgreSQL 15, fsync ${durable ? 'on' : 'off'}; ${runs} runs of ${ops} ops; pool ${POOL}; load ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(['operation', 'callers', 'driver', 'ops/s', 'p50 ms', 'runs (ops/s)'].join('\t'));
  for (const [key, rs] of results)
    console.log(`${key}\t${median(rs.map((r) => r[0])).toFixed(0)}\t${median(rs.map((r) => r[1])).toFixed(3)}\t${rs.map((r) => r[0].toFixed(0)).join(' ')}`);
  for (const d of drivers) await d.end();
} finally {
  server.destroy();
}

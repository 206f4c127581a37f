/**
 * A throwaway PostgreSQL 15 server for one test file (or one benchmark): initdb in a temp dir as
 * the unprivileged `postgres` user, pg_ctl start on a socket dir of its own and a free 127.0.0.1
 * port, one fresh database per call of createDatabase, pg_ctl -m immediate stop at the end.
 * Nothing here talks to any other server; nothing is left running when the process exits.
 *
 *   const pg = await postgresForTest(t);           // undefined: the file was skipped, with the reason
 *   const url = await pg.createDatabase(t);        // postgres://postgres@127.0.0.1:PORT/t_1, dropped after t
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

/** Why PostgreSQL cannot be started here, or undefined when it can. */
export function postgresUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'PostgreSQL tests need root (initdb runs as the postgres user)';
  if (!existsSync(join(PG_BIN, 'pg_ctl'))) return `PostgreSQL 15 is not installed (no ${PG_BIN}; test/peers.sh installs Debian's postgresql)`;
  if (spawnSync('id', ['-u', 'postgres']).status !== 0) return 'no postgres user (Debian’s postgresql package creates it)';
  return undefined;
}

export interface PgServer {
  host: string;
  port: number;
  socketDir: string;
  /** A connection URL for a database on this server (TCP, user postgres, trust auth). */
  url(database: string): string;
  /** Runs SQL as the superuser through psql on the socket; returns its output. */
  psql(sql: string, database?: string): string;
  /** A new empty database; dropped (FORCE) after t ends, when t is given. */
  createDatabase(t?: Test): Promise<string>;
  /** pg_ctl -m immediate stop: the server goes away at once, as a crash would look to clients. */
  stop(): void;
  /** Starts the same data directory again, on the same port. */
  start(): void;
  /** Stops the server and removes its directory. */
  destroy(): void;
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

const ids = () => ({
  uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
  gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
});

let databases = 0;

/**
 * Starts a server. `durable: false` (the default for tests) turns fsync off: a throwaway
 * server's data need not survive a power cut, and the contract suite runs several times faster.
 */
export async function startPostgres(opts: { durable?: boolean } = {}): Promise<PgServer> {
  const why = postgresUnavailable();
  if (why) throw new Error(why);
  const { uid, gid } = ids();
  const root = mkdtempSync(join(tmpdir(), 'ks-pg-'));
  chownSync(root, uid, gid);
  const data = join(root, 'data');
  const socketDir = join(root, 'sock');
  mkdirSync(socketDir);
  chownSync(socketDir, uid, gid);
  const asPostgres = (cmd: string, args: string[]) => {
    const r = spawnSync(join(PG_BIN, cmd), args, { uid, gid, cwd: root, encoding: 'utf8', env: { PATH: process.env.PATH, LANG: 'C.UTF-8' } });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
  const port = await freePort();
  const settings = [`-p ${port}`, `-k ${socketDir}`, '-c listen_addresses=127.0.0.1', '-c max_connections=200'];
  if (!opts.durable) settings.push('-c fsync=off', '-c full_page_writes=off');
  let running = false;
  const start = () => {
    asPostgres('pg_ctl', ['-D', data, '-l', join(root, 'log'), '-o', settings.join(' '), '-w', '-t', '30', 'start']);
    running = true;
  };
  const stop = () => {
    if (!running) return;
    running = false;
    asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  };
  // A test that dies without its teardown must not leave a postmaster behind.
  const onExit = () => {
    try {
      stop();
    } catch {
      // nothing more to do on the way out
    }
  };
  process.once('exit', onExit);
  start();

  const psql = (sql: string, database = 'postgres') => {
    const r = spawnSync(join(PG_BIN, 'psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', socketDir, '-p', String(port), '-U', 'postgres', '-d', database, '-c', sql], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`psql ${sql}: ${r.stderr}`);
    return r.stdout;
  };
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    host: '127.0.0.1',
    port,
    socketDir,
    url,
    psql,
    async createDatabase(t) {
      const name = `t_${process.pid}_${++databases}`;
      psql(`CREATE DATABASE ${name}`);
      // Registered first, so it runs after what the test registers later (the store's close).
      t?.teardown(() => {
        if (running) psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
      return url(name);
    },
    stop,
    start,
    destroy() {
      stop();
      process.removeListener('exit', onExit);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * A server for the whole test file, destroyed at its end; undefined (and the file skipped, with
 * the reason) when this machine cannot run one.
 */
export async function postgresForTest(t: Test, opts: { durable?: boolean } = {}): Promise<PgServer | undefined> {
  const why = postgresUnavailable();
  if (why) {
    t.plan(0, `skipped: ${why}`);
    return undefined;
  }
  const server = await startPostgres(opts);
  t.teardown(() => server.destroy());
  return server;
}

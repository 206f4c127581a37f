/**
 * The instance-name lock (server/store/instance-lock.ts) against a real PostgreSQL 15 that this
 * file starts: two stores with one name on one database cannot both be open; a process killed
 * with SIGKILL frees its name at once; a server restart loses the name and the store takes it
 * back; events carry the name of the instance that wrote them. And the SQLite store, which
 * locks its data directory instead, stamps its events just the same.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import { StoreUnavailable } from '../../server/model/errors.js';
import { InstanceNameTaken, instanceLockKey } from '../../server/store/instance-lock.js';
import { MIGRATIONS } from '../../server/store/migrations.js';
import { openPostgresStore, type PostgresStoreOptions } from '../../server/store/postgres.js';
import { openSqliteStore } from '../../server/store/sqlite.js';
import type { Store } from '../../server/store/store.js';
import { postgresForTest } from '../helpers/postgres.js';

const event = (message: string) => ({ kind: 'dhcp' as const, level: 'info' as const, message });

t.test('instanceLockKey: a signed 64-bit key per name, the same every time', async (t) => {
  const k = instanceLockKey('rack-a');
  t.match(k, /^-?\d+$/);
  t.ok(BigInt(k) >= -(2n ** 63n) && BigInt(k) < 2n ** 63n, 'fits a BIGINT');
  t.equal(instanceLockKey('rack-a'), k, 'stable');
  t.not(instanceLockKey('rack-b'), k, 'another name, another key');
});

t.test('SQLite: events carry the instance; events from before instance names have none', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-instance-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'kickstand.db');
  // A database as the release before instance names left it: migrations 1–4 and one event.
  const old = new Database(file);
  old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
  MIGRATIONS.slice(0, 4).forEach((sql, i) => {
    old.exec(sql);
    old.prepare('INSERT INTO schema_migrations VALUES (?, ?)').run(i + 1, 0);
  });
  old.prepare("INSERT INTO events (machine, at, level, kind, message) VALUES ('m1', 1, 'info', 'dhcp', 'old')").run();
  old.close();

  const store = await openSqliteStore(file, { instance: 'rack-a' });
  t.teardown(() => store.close());
  const e = await store.events.append({ ...event('new'), machine: 'm1' }, 2);
  t.equal(e.instance, 'rack-a', 'a new event carries the instance');
  const listed = await store.events.list({ machine: 'm1' });
  t.same(
    listed.map((x) => [x.message, x.instance]),
    [
      ['old', undefined],
      ['new', 'rack-a'],
    ],
    'the old event has no instance (not even a null one), the new one has it',
  );
  t.notOk('instance' in listed[0], 'no instance property on the old event');

  const nameless = await openSqliteStore(join(dir, 'other.db'));
  t.teardown(() => nameless.close());
  const n = await nameless.events.append(event('nameless'), 3);
  t.notOk('instance' in n, 'a store opened without a name stamps none');
  t.notOk('instance' in (await nameless.events.list({}))[0]);
});

const pg = await postgresForTest(t);
if (pg) {
  /** A store on url under instance, closed at the end of t (closing twice is harmless). */
  const openAs = async (t: Test, url: string, instance: string, opts: PostgresStoreOptions = {}) => {
    const store = await openPostgresStore(url, { instance, ...opts });
    t.teardown(() => store.close());
    return store;
  };
  const refusal = async (p: Promise<Store>) => {
    try {
      const s = await p;
      await s.close();
      return undefined;
    } catch (err) {
      return err as Error;
    }
  };
  const REFUSED = (name: string) => new RegExp(`^instance ${name} is running already \\(PostgreSQL advisory lock\\): give this one another name with KICKSTAND_INSTANCE`);

  t.test('two stores with one name: the second refuses, naming it; another name opens', async (t) => {
    const url = await pg.createDatabase(t);
    const a = await openAs(t, url, 'rack-a');
    const started = Date.now();
    const err = await refusal(openPostgresStore(url, { instance: 'rack-a' }));
    t.ok(err instanceof InstanceNameTaken, `refused with InstanceNameTaken (${err?.name}: ${err?.message})`);
    t.match(err?.message, REFUSED('rack-a'), 'the message names the instance and the way out');
    t.match(err?.message, /held by "kickstand rack-a" from 127\.0\.0\.1 since \d{4}-/, 'and who holds the name');
    t.equal((err as InstanceNameTaken).instance, 'rack-a');
    t.ok(Date.now() - started < 3_000, `after the grace second (${Date.now() - started} ms)`);
    const alsoRefused = await refusal(openPostgresStore(url, { instance: 'rack-a', instanceLock: { graceMs: 0 } }));
    t.ok(alsoRefused instanceof InstanceNameTaken, 'refused at once without the grace');

    const b = await openAs(t, url, 'rack-b');
    const c = await openAs(t, url, 'rack-a.2');
    t.pass('rack-b and rack-a.2 open beside rack-a');
    await a.check();
    await b.check();

    const ea = await a.events.append({ ...event('from a'), machine: 'm1' }, 1);
    const [eb] = await b.events.appendMany([{ event: { ...event('from b'), machine: 'm1' }, at: 2 }]);
    const ec = await c.transaction((tx) => tx.events.append({ ...event('from c'), machine: 'm1' }, 3));
    t.same([ea.instance, eb.instance, ec.instance], ['rack-a', 'rack-b', 'rack-a.2'], 'each writer stamps its own name');
    for (const [who, s] of [['rack-a', a], ['rack-b', b]] as const) {
      t.same(
        (await s.events.list({ machine: 'm1' })).map((e) => [e.message, e.instance]),
        [
          ['from a', 'rack-a'],
          ['from b', 'rack-b'],
          ['from c', 'rack-a.2'],
        ],
        `${who} reads every instance's events with the writer's name`,
      );
      t.same(
        (await s.events.tail({ machine: 'm1', since: 0, limit: 10 })).map((e) => e.instance),
        ['rack-a', 'rack-b', 'rack-a.2'],
        `${who}: tail too`,
      );
    }

    await a.close();
    const again = await openAs(t, url, 'rack-a', { instanceLock: { graceMs: 0 } });
    t.pass('a closed store frees its name: it opens again at once');
    await again.check();
  });

  t.test('kill -9 of the process holding a name: a new store with the name opens at once', async (t) => {
    const url = await pg.createDatabase(t);
    const child = join(import.meta.dirname, 'instance-child.ts');
    const run = () => {
      const p = spawn(process.execPath, ['--import', 'tsx', child, url, 'rack-k'], { stdio: ['ignore', 'pipe', 'inherit'] });
      t.teardown(() => void p.kill('SIGKILL'));
      let out = '';
      const line = new Promise<string>((resolve, reject) => {
        p.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) resolve(out.split('\n')[0]);
        });
        p.once('exit', (code, signal) => reject(new Error(`the child ended (${code ?? signal}) before a line: ${out}`)));
      });
      const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
      return { p, line, exited };
    };
    const holder = run();
    t.equal(await holder.line, 'ready', 'a child process holds rack-k');
    const second = run();
    t.match(await second.line, /^refused: instance rack-k is running already \(PostgreSQL advisory lock\)/, 'a second process with the name refuses');
    await second.exited;

    holder.p.kill('SIGKILL');
    await holder.exited;
    const started = Date.now();
    const store = await openAs(t, url, 'rack-k');
    const took = Date.now() - started;
    t.ok(took < 1_000, `the killed holder's name was free at once: opened in ${took} ms`);
    t.same(
      (await store.events.list({})).map((e) => e.instance),
      ['rack-k'],
      'the event the killed process wrote carries its name',
    );

    // And with no grace at all, once PostgreSQL has seen the connection go (a few milliseconds).
    await store.close();
    const third = run();
    t.equal(await third.line, 'ready');
    third.p.kill('SIGKILL');
    await third.exited;
    let tries = 0;
    for (;;) {
      tries++;
      const err = await refusal(openPostgresStore(url, { instance: 'rack-k', instanceLock: { graceMs: 0 } }));
      if (!err) break;
      if (!(err instanceof InstanceNameTaken) || tries >= 50) throw err;
      await sleep(10);
    }
    t.ok(tries <= 50, `without the grace: free after ${tries} attempt(s), 10 ms apart`);
  });

  // Last: it stops and starts the server.
  t.test('the server restarts: the name is lost (check says so), then taken back; one taken meanwhile stays with its taker', async (t) => {
    const url = await pg.createDatabase(t);
    const a = await openAs(t, url, 'rack-r', { connectTimeoutMs: 2_000, instanceLock: { retryMs: 200 } });
    await a.check();
    const lostMessage = async (store: Store, pattern: RegExp, withinMs: number) => {
      const until = Date.now() + withinMs;
      for (;;) {
        const err = await store.check().then(
          () => undefined,
          (e: Error) => e,
        );
        if (err && pattern.test(err.message)) return err;
        if (Date.now() > until) return err;
        await sleep(50);
      }
    };
    const healthy = async (store: Store, withinMs: number) => {
      const until = Date.now() + withinMs;
      for (;;) {
        const err = await store.check().then(
          () => undefined,
          (e: Error) => e,
        );
        if (!err) return true;
        if (Date.now() > until) return false;
        await sleep(50);
      }
    };

    pg.stop();
    try {
      const err = await lostMessage(a, /instance rack-r does not hold its name on the database now/, 2_000);
      t.ok(err instanceof StoreUnavailable, `check rejects with StoreUnavailable, naming the lost name (${err?.message})`);
    } finally {
      pg.start();
    }
    t.ok(await healthy(a, 5_000), 'after the restart the store takes its name back and checks healthy');
    const err = await refusal(openPostgresStore(url, { instance: 'rack-r', instanceLock: { graceMs: 0 } }));
    t.ok(err instanceof InstanceNameTaken, 'the name is held again: another store with it refuses');

    // A slow taker: another process takes the name while this one is cut off.
    const slow = await openAs(t, url, 'rack-s', { connectTimeoutMs: 2_000, instanceLock: { retryMs: 1_500 } });
    pg.stop();
    try {
      await lostMessage(slow, /does not hold its name/, 2_000);
    } finally {
      pg.start();
    }
    const taker = await openAs(t, url, 'rack-s', { instanceLock: { graceMs: 0 } });
    t.pass('a process that started while rack-s was cut off took the name');
    const stolen = await lostMessage(slow, /another process took the name meanwhile/, 4_000);
    t.match(stolen?.message, /instance rack-s does not hold its name on the database now: another process took the name meanwhile/, 'the cut-off one says so in check (and /healthz)');
    await taker.close();
    t.ok(await healthy(slow, 5_000), 'when the taker goes, the name comes back');
  });
}

/**
 * The PostgreSQL store's row cache (server/store/shared-cache.ts): on its own, the rules that keep
 * an entry never older than its row; then two stores on one real PostgreSQL 15, each seeing the
 * other's writes of machines, profiles, statuses and tokens at once, and keeping nothing while
 * its listening connection is down.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { openPostgresStore } from '../../server/store/postgres.js';
import type { Machine } from '../../server/model/machine.js';
import { SharedCache } from '../../server/store/shared-cache.js';
import { postgresForTest } from '../helpers/postgres.js';
import { machine, profile, status, token } from './contract.js';

t.test('the cache on its own', async (t) => {
  const cache = new SharedCache();
  let row = 'v1';
  let reads = 0;
  const read = async () => (reads++, row);
  t.equal(await cache.row('m', 'web-01', read), 'v1');
  t.equal(await cache.row('m', 'web-01', read), 'v1');
  t.equal(reads, 2, 'nothing is kept before the listening connection is up');

  cache.listen(true);
  await cache.row('m', 'web-01', read);
  await cache.row('m', 'web-01', read);
  t.equal(reads, 3, 'kept once listening');
  row = 'v2';
  cache.changed('p:web-01');
  t.equal(await cache.row('m', 'web-01', read), 'v1', 'another kind of row with the name: kept');
  cache.changed('m:web-01');
  t.equal(await cache.row('m', 'web-01', read), 'v2', 'its own kind: forgotten, read again');

  // A read that races a write: it returns the old row, the notification comes while it runs.
  let finish!: (v: string) => void;
  cache.changed('m:web-01');
  const racing = cache.row('m', 'web-01', () => new Promise<string>((r) => (finish = r)));
  cache.changed('m:web-01');
  finish('stale');
  t.equal(await racing, 'stale', 'the racing read answers what it read');
  t.equal(await cache.row('m', 'web-01', read), 'v2', 'but it is not kept: the next read asks again');

  const tk = { token: 'tk', machine: 'web-01', installId: 'i1', expiresAt: 9 };
  await cache.token('tk', async () => tk);
  await cache.currentToken('web-01', async () => tk);
  let tokenReads = 0;
  t.equal(await cache.token('tk', async () => (tokenReads++, undefined)), tk, 'kept by token');
  cache.changed('t:web-01');
  t.equal(await cache.token('tk', async () => (tokenReads++, undefined)), undefined, "a write of the machine's tokens forgets them all");
  t.equal(await cache.currentToken('web-01', async () => (tokenReads++, undefined)), undefined, 'and its current token');
  t.equal(tokenReads, 2);
  t.equal(await cache.token('made-up', async () => undefined), undefined);

  // Machines by MAC: forgotten by a write of the machine that holds the MAC, whichever MAC.
  const m1 = { name: 'web-01', macs: ['52:54:00:00:00:01'] } as Machine;
  let macReads = 0;
  const byMac = (v: Machine | undefined) => async () => (macReads++, v);
  t.equal(await cache.machineByMac('52:54:00:00:00:01', byMac(m1)), m1);
  t.equal(await cache.machineByMac('52:54:00:00:00:01', byMac(undefined)), m1, 'kept by MAC');
  cache.changed('m:web-02');
  t.equal(await cache.machineByMac('52:54:00:00:00:01', byMac(undefined)), m1, "another machine's write: kept");
  cache.changed('m:web-01');
  t.equal(await cache.machineByMac('52:54:00:00:00:01', byMac(undefined)), undefined, "its machine's write: forgotten");
  t.equal(await cache.machineByMac('52:54:00:00:00:01', byMac(m1)), m1, 'a MAC without a machine was not kept');
  t.equal(macReads, 3, 'read three times: the first, after the write of its machine, after the miss');
  let finishMac!: (v: Machine) => void;
  cache.changed('m:web-01');
  const racingMac = cache.machineByMac('52:54:00:00:00:01', () => new Promise<Machine>((r) => (finishMac = r)));
  cache.changed('m:web-09');
  finishMac(m1);
  t.equal(await racingMac, m1);
  t.equal(await cache.machineByMac('52:54:00:00:00:01', byMac(undefined)), undefined, 'a read by MAC that raced any machine write is not kept');

  cache.listen(false);
  t.equal(await cache.row('m', 'web-01', async () => 'v3'), 'v3', 'connection down: everything forgotten');
  t.equal(await cache.row('m', 'web-01', async () => 'v4'), 'v4', 'and nothing kept');
});

t.test("the cache on its own: a row this process wrote, and its own notification", async (t) => {
  const cache = new SharedCache();
  cache.listen(true);
  const never = async (): Promise<undefined> => void t.fail('read from the database');
  const ask = (v: string) => async () => v;

  let mark = cache.writing('s:web-01');
  cache.wrote('s:web-01', mark, 'v1');
  t.equal(await cache.row('s', 'web-01', never), 'v1', 'a status it wrote is kept as written');
  cache.changed(`${cache.tag} s:web-01`);
  t.equal(await cache.row('s', 'web-01', never), 'v1', 'its own notification, heard after, forgets nothing');
  cache.changed('someone-else s:web-01');
  t.equal(await cache.row('s', 'web-01', ask('v2')), 'v2', "another's notification forgets it");
  cache.changed('s:web-01');
  t.equal(await cache.row('s', 'web-01', ask('v3')), 'v3', 'so does an unsigned one (an older instance)');

  mark = cache.writing('s:web-01');
  cache.changed('someone-else s:web-01');
  cache.wrote('s:web-01', mark, 'mine');
  t.equal(await cache.row('s', 'web-01', ask('theirs')), 'theirs', "another's write heard while this one ran: what this one wrote may be older, not kept");

  mark = cache.writing('s:web-01');
  cache.wrote('s:web-01', mark, undefined);
  t.equal(await cache.row('s', 'web-01', ask('v4')), 'v4', 'a write that did not commit forgets the row and keeps nothing');

  // Two writes of one row by this process at once (the second waited on the first's row lock):
  // whichever settles first, the other's value is not kept over it.
  const first = cache.writing('s:web-01');
  const second = cache.writing('s:web-01');
  cache.wrote('s:web-01', second, 'v6');
  cache.wrote('s:web-01', first, 'v5');
  t.equal(await cache.row('s', 'web-01', ask('v6')), 'v6', 'the later write settled first: the earlier one is not kept after it');

  let finish!: (v: string) => void;
  cache.changed('x s:web-01');
  const racing = cache.row('s', 'web-01', () => new Promise<string>((r) => (finish = r)));
  mark = cache.writing('s:web-01');
  cache.wrote('s:web-01', mark, 'v7');
  finish('v6');
  t.equal(await racing, 'v6');
  t.equal(await cache.row('s', 'web-01', never), 'v7', 'a read that raced its write does not put the old row back');

  cache.listen(false);
  mark = cache.writing('s:web-01');
  cache.listen(true);
  cache.wrote('s:web-01', mark, 'v8');
  t.equal(await cache.row('s', 'web-01', ask('v9')), 'v9', 'a write while the listening connection was down is not kept');
  mark = cache.writing('s:web-01');
  cache.listen(false);
  cache.listen(true);
  cache.wrote('s:web-01', mark, 'v10');
  t.equal(await cache.row('s', 'web-01', ask('v11')), 'v11', 'nor one that the connection dropped under');
});


const pg = await postgresForTest(t);
if (pg) {
  t.test("two stores on one database: each reads the other's writes of kept rows", async (t) => {
    const url = await pg.createDatabase(t);
    const a = await openPostgresStore(url, { instance: 'c-a' });
    t.teardown(() => a.close());
    const b = await openPostgresStore(url, { instance: 'c-b' });
    t.teardown(() => b.close());
    await sleep(200); // both listening
    await a.profiles.put(profile('p1'));
    await a.machines.put(machine('m1', ['52:54:00:00:00:0a']));
    await a.status.put(status('m1', 1));
    await a.tokens.put(token('tk-1', 'm1', 'i1', 9_000));
    // b reads (and keeps) every row, twice.
    for (let i = 0; i < 2; i++) {
      t.equal((await b.machines.get('m1'))?.profile, 'p1');
      t.equal((await b.profiles.get('p1'))?.name, 'p1');
      t.equal((await b.status.get('m1'))?.version, 1);
      t.equal((await b.tokens.get('tk-1'))?.revokedAt, undefined);
      t.equal((await b.tokens.current('m1'))?.token, 'tk-1');
    }
    const seenBy = async <V>(what: string, read: () => Promise<V>, ok: (v: V) => boolean) => {
      const start = Date.now();
      while (!ok(await read()) && Date.now() - start < 2_000) await sleep(5);
      t.ok(ok(await read()), `${what}: seen by the other store (${Date.now() - start} ms)`);
    };
    await a.transaction(async (tx) => {
      await tx.profiles.put(profile('p2'));
      await tx.machines.put({ ...machine('m1', ['52:54:00:00:00:0a']), profile: 'p2' });
      await tx.status.put(status('m1', 2));
      await tx.tokens.revokeForMachine('m1', 5_000);
      await tx.tokens.put(token('tk-2', 'm1', 'i2', 9_000));
    });
    await seenBy('a machine written in a transaction', () => b.machines.get('m1'), (m) => m?.profile === 'p2');
    await seenBy('its status', () => b.status.get('m1'), (s) => s?.version === 2);
    await seenBy('a revoked token', () => b.tokens.get('tk-1'), (tk) => tk?.revokedAt === 5_000);
    await seenBy('the current token', () => b.tokens.current('m1'), (tk) => tk?.token === 'tk-2');
    await b.profiles.get('p2');
    await a.profiles.put({ ...profile('p2'), os: 'fcos' } as never);
    await seenBy('a profile written outside a transaction', () => b.profiles.get('p2'), (p) => (p as { os?: string } | undefined)?.os === 'fcos');
    await a.machines.put(machine('m9', ['52:54:00:00:00:0b']));
    await b.machines.get('m9');
    t.equal((await b.machines.byMac('52:54:00:00:00:0b'))?.name, 'm9');
    await a.machines.delete('m9');
    await seenBy('a deleted machine', () => b.machines.get('m9'), (m) => m === undefined);
    await seenBy('and by its MAC', () => b.machines.byMac('52:54:00:00:00:0b'), (m) => m === undefined);
    // A MAC moves: off its machine, then onto another; b kept it for the first.
    await a.machines.put(machine('m7', ['52:54:00:00:00:0c']));
    t.equal((await b.machines.byMac('52:54:00:00:00:0c'))?.name, 'm7');
    await a.machines.put(machine('m7', ['52:54:00:00:00:0d']));
    await a.machines.put(machine('m8', ['52:54:00:00:00:0c']));
    await seenBy('a MAC that moved to another machine', () => b.machines.byMac('52:54:00:00:00:0c'), (m) => m?.name === 'm8');

    // Its own write is read back at once, without waiting for the notification.
    await b.status.put(status('m1', 3));
    t.equal((await b.status.get('m1'))?.version, 3, "a store's own write: read back at once");
    // A write that meets a newer version forgets the kept row: the retry reads the new one.
    await a.status.put(status('m1', 4));
    const conflict = await b.status.put(status('m1', 4)).catch((e) => e);
    t.equal(conflict?.field, 'version', 'a stale write is refused');
    t.equal((await b.status.get('m1'))?.version, 4, 'and the next read has the newer row');

    // A status a store wrote is answered from memory, its own notification heard or not. Rewriting
    // the row behind the stores' backs (no notification) shows which reads reach the database.
    const behind = (version: number) => pg.psql(`UPDATE status SET body = '${JSON.stringify(status('m1', version))}', version = ${version} WHERE machine = 'm1'`, new URL(url).pathname.slice(1));
    await a.status.put(status('m1', 5));
    await a.transaction(async (tx) => tx.status.put(status('m1', 6)));
    await sleep(200); // its own notifications heard
    behind(7);
    t.equal((await a.status.get('m1'))?.version, 6, 'a status written in a transaction: kept as committed, after its own notification');
    await b.status.put(status('m1', 8));
    await seenBy("another store's write", () => a.status.get('m1'), (s) => s?.version === 8);
    await a.transaction(async (tx) => {
      await tx.status.put(status('m1', 9));
      throw new Error('rolled back');
    }).catch(() => undefined);
    behind(10);
    t.equal((await a.status.get('m1'))?.version, 10, 'a rolled-back write keeps nothing');
    await a.status.put(status('m1', 11));
    behind(12);
    t.equal((await a.status.get('m1'))?.version, 11, 'a put outside a transaction: kept as written');
    t.equal((await a.status.put(status('m1', 12)).catch((e) => e))?.field, 'version');
    t.equal((await a.status.get('m1'))?.version, 12, 'a put refused for its version forgets the row: read again');

    // b's listening connection is cut: while it is down b keeps nothing, so nothing goes stale.
    pg.psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'kickstand c-b events'`);
    await sleep(50);
    await a.status.put(status('m1', 13));
    t.equal((await b.status.get('m1'))?.version, 13, 'read from the database while not listening');
  });
}

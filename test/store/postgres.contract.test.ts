/**
 * The store contract against a real PostgreSQL 15 that this file starts (test/helpers/postgres.ts):
 * one empty database per subtest. Then what only a server over the network shows: the server
 * going away under a live store, two stores opening one empty database at once, and reads of
 * one instance seeing another's writes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { StoreUnavailable } from '../../server/model/errors.js';
import { openStore } from '../../server/store/open.js';
import { PG_MIGRATIONS } from '../../server/store/postgres-migrations.js';
import { openPostgresStore } from '../../server/store/postgres.js';
import { Config } from '../../server/config/schema.js';
import { postgresForTest } from '../helpers/postgres.js';
import { machine, profile, status, storeContract, token } from './contract.js';

const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';
const C = '52:54:00:00:00:0c';

const pg = await postgresForTest(t);
if (pg) {
  await storeContract(t, 'postgres', async (t, opts) => openPostgresStore(await pg.createDatabase(t), opts), 'concurrent');

  t.test('store.url postgres:// and postgresql:// open the PostgreSQL store', async (t) => {
    const url = await pg.createDatabase(t);
    for (const u of [url, url.replace(/^postgres:/, 'postgresql:')]) {
      const config = Config.parse({ store: { url: u } });
      const store = await openStore(config);
      await store.profiles.put(profile('p1'));
      t.ok(await store.profiles.get('p1'), `${u.split(':')[0]}: a write and a read`);
      await store.close();
    }
    t.throws(() => Config.parse({ store: { url: 'mysql://x/y' } }), 'another scheme is refused');
  });

  t.test('two stores opening one empty database at once: migrations run once, under the lock', async (t) => {
    const url = await pg.createDatabase(t);
    const stores = await Promise.all([openPostgresStore(url), openPostgresStore(url), openPostgresStore(url)]);
    t.teardown(() => Promise.all(stores.map((s) => s.close())));
    const versions = pg.psql('SELECT version FROM schema_migrations ORDER BY version', url.split('/').pop());
    t.equal(versions.trim(), PG_MIGRATIONS.map((_, i) => i + 1).join('\n'), 'each migration recorded once');
    const [a, b] = stores;
    await a.profiles.put(profile('p1'));
    await a.machines.put(machine('m1', ['52:54:00:00:00:0a']));
    t.equal((await b.machines.byMac('52:54:00:00:00:0a'))?.name, 'm1', "another instance reads the first one's write at once (no row cache)");
    await a.status.put(status('m1', 1));
    await b.status.put(status('m1', 2));
    // a keeps the status it wrote until b's notification of its own write is heard (shared-cache.ts).
    const start = Date.now();
    while ((await a.status.get('m1'))?.version !== 2 && Date.now() - start < 2_000) await sleep(5);
    t.equal((await a.status.get('m1'))?.version, 2, "and the first reads the other's once its notification is heard");
    const err = await a.status.put(status('m1', 2)).catch((e) => e);
    t.equal(err?.field, 'version', 'a stale version from another instance is a conflict');
  });

  t.test('inside a transaction: a caught constraint conflict keeps it going; any other failed statement ends it', async (t) => {
    const store = await openPostgresStore(await pg.createDatabase(t));
    t.teardown(() => store.close());
    await store.profiles.put(profile('p1'));
    await store.machines.put(machine('m1', [A]));
    await store.status.put(status('m1', 1));
    const fields = await store.transaction(async (tx) => {
      await tx.status.put(status('m1', 2));
      const macs = await tx.machines.put(machine('m2', [B, A])).catch((e) => e.field);
      const hw = await tx.hardware.put('ghost', { inventory: {}, reportedAt: 1, source: 'discovery' }).catch((e) => e.field);
      await tx.machines.put(machine('m3', [C]));
      return [macs, hw];
    });
    t.same(fields, ['macs', 'machine'], 'the conflicts were ConflictErrors naming the field');
    t.equal((await store.status.get('m1'))?.version, 2, 'the writes around them committed');
    t.equal((await store.machines.byMac(C))?.name, 'm3');
    t.equal(await store.machines.byMac(B), undefined, 'and nothing of the refused put');

    const outcome = await store
      .transaction(async (tx) => {
        await tx.status.put(status('m1', 3));
        // NaN is no BIGINT: PostgreSQL refuses the statement and aborts the transaction.
        const bad = await tx.tokens.put(token('tk', 'm1', 'i1', Number.NaN)).catch((e) => e);
        const next = await tx.tokens.put(token('tk2', 'm1', 'i2', 1)).catch((e) => e);
        return { bad, next };
      })
      .then(
        (r) => ({ resolved: r }),
        (e) => ({ rejected: e }),
      );
    t.ok('rejected' in outcome && outcome.rejected instanceof StoreUnavailable, 'the transaction rejects with StoreUnavailable though fn caught the errors');
    t.equal((await store.status.get('m1'))?.version, 2, 'nothing of it was written');
    t.equal(await store.tokens.get('tk2'), undefined);
  });

  t.test('several instances at once: one owner per MAC, event ids visible in order to a reader paging by id', async (t) => {
    const url = await pg.createDatabase(t);
    const stores = await Promise.all([1, 2, 3].map(() => openPostgresStore(url)));
    t.teardown(() => Promise.all(stores.map((s) => s.close())));
    await stores[0].profiles.put(profile('p1'));
    let winners = 0;
    for (let round = 0; round < 10; round++) {
      const mac = `52:54:00:00:10:${String(round).padStart(2, '0')}`;
      const results = await Promise.allSettled(stores.map((s, i) => s.machines.put(machine(`r${round}-${i}`, [mac]))));
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      const conflicts = results.filter((r) => r.status === 'rejected' && (r.reason as { field?: string }).field === 'macs').length;
      if (ok === 1 && conflicts === 2) winners++;
    }
    t.equal(winners, 10, 'each round: one put took the MAC, the others were ConflictErrors naming macs');

    let writing = true;
    const writers = stores.map(async (s, i) => {
      const ids: number[] = [];
      for (let n = 0; n < 80; n++)
        ids.push(...(await s.events.appendMany(Array.from({ length: 8 }, (_, j) => ({ event: { kind: 'dhcp' as const, level: 'info' as const, message: `${i}.${n}.${j}` }, at: n })))).map((e) => e.id));
      return ids;
    });
    const reader = (async () => {
      const seen: number[] = [];
      let afterId = 0;
      for (;;) {
        const done = !writing;
        const page = await stores[0].events.list({ afterId, limit: 50 });
        seen.push(...page.map((e) => e.id));
        if (page.length) afterId = page[page.length - 1].id;
        else if (done) return seen;
      }
    })();
    const written = (await Promise.all(writers)).flat().sort((a, b) => a - b);
    writing = false;
    const seen = await reader;
    t.equal(written.length, 3 * 80 * 8);
    t.same(seen, written, 'the reader saw every event once, in id order, though three instances wrote at once');
  });

  // Last: it stops and starts the server.
  t.test('the server goes away under a live store: StoreUnavailable, then writes again after a restart', async (t) => {
    const url = await pg.createDatabase(t);
    const store = await openPostgresStore(url, { connectTimeoutMs: 2_000 });
    t.teardown(() => store.close());
    await store.profiles.put(profile('p1'));
    await store.machines.put(machine('m1', ['52:54:00:00:00:0a']));
    await store.status.put(status('m1', 1));
    t.ok(await store.machines.get('m1'), 'a live store, its connections open');

    pg.stop();
    try {
      const write = await store.status.put(status('m1', 2)).catch((e) => e);
      t.ok(write instanceof StoreUnavailable, `a write rejects with StoreUnavailable (${write?.name}: ${write?.message})`);
      const tx = await store.transaction(async (tx) => tx.events.append({ kind: 'dhcp', level: 'info', message: 'x' })).catch((e) => e);
      t.ok(tx instanceof StoreUnavailable, `so does a transaction (${tx?.name}: ${tx?.message})`);
      const check = await store.check().catch((e) => e);
      t.ok(check instanceof StoreUnavailable, 'and the health check');
      const read = await store.machines.get('m1').catch((e) => e);
      t.ok(read instanceof StoreUnavailable, 'a read too');
    } finally {
      pg.start();
    }
    await store.status.put(status('m1', 2));
    t.equal((await store.status.get('m1'))?.version, 2, 'the first write after the restart lands');
    await store.check();
    const n = await store.transaction(async (tx) => {
      await tx.status.put(status('m1', 3));
      return (await tx.events.appendMany([{ event: { kind: 'dhcp', level: 'info', message: 'back' }, at: 1 }])).length;
    });
    t.equal(n, 1, 'and a transaction');
    t.equal((await store.status.get('m1'))?.version, 3);
  });
}

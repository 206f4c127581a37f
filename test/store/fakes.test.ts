import { performance } from 'node:perf_hooks';
import t, { type Test } from 'tap';
import { StoreUnavailable } from '../../server/model/errors.js';
import { openSqliteStore } from '../../server/store/sqlite.js';
import type { Repos, Store } from '../../server/store/store.js';
import { entry, lease, machine, profile, replacement, rule, status, token } from './contract.js';
import { brokenStore } from './fakes/broken-store.js';
import { emptyStore } from './fakes/empty-store.js';
import { METHODS, type Access } from './fakes/repos.js';
import { slowStore } from './fakes/slow-store.js';

/**
 * Each test store does what its name says, for every method of the interface: the calls below
 * are typed so that a method added to a repo fails to compile until it has a call here.
 */
const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';
const calls: { [R in keyof Repos]: { [M in keyof Repos[R]]-?: (r: Repos[R]) => Promise<unknown> } } = {
  machines: {
    get: (r) => r.get('m1'),
    byMac: (r) => r.byMac(A),
    list: (r) => r.list(),
    put: (r) => r.put(machine('m2', [B])),
    delete: (r) => r.delete('m1'),
  },
  profiles: { get: (r) => r.get('p1'), list: (r) => r.list(), put: (r) => r.put(profile('p2')), delete: (r) => r.delete('p1') },
  status: { get: (r) => r.get('m1'), list: (r) => r.list(), put: (r) => r.put(status('m1', 2)), delete: (r) => r.delete('m1') },
  events: {
    append: (r) => r.append({ kind: 'dhcp', level: 'info', message: 'new' }, 2),
    appendMany: (r) => r.appendMany([{ event: { kind: 'dhcp', level: 'info', message: 'new burst' }, at: 3 }]),
    list: (r) => r.list({}),
    tail: (r) => r.tail({ machine: 'm1', since: 0, limit: 10 }),
    prune: (r) => r.prune(0, 10),
  },
  tokens: {
    put: (r) => r.put(token('tk-2', 'm1', 'i2', 2_000)),
    get: (r) => r.get('tk-1'),
    current: (r) => r.current('m1'),
    revokeForMachine: (r) => r.revokeForMachine('m1', 3_000),
    deleteForMachine: (r) => r.deleteForMachine('m1'),
  },
  leases: {
    byMac: (r) => r.byMac(A),
    byIp: (r) => r.byIp('10.0.0.10'),
    list: (r) => r.list(),
    put: (r) => r.put(lease(B, '10.0.0.11')),
    putMany: (r) => r.putMany([lease(B, '10.0.0.12')]),
    delete: (r) => r.delete(A),
  },
  hardware: { get: (r) => r.get('m1'), put: (r) => r.put('m1', { inventory: {}, reportedAt: 2, source: 'install' }) },
  rules: { get: (r) => r.get('r1'), list: (r) => r.list(), put: (r) => r.put(rule('r2', 2)), delete: (r) => r.delete('r1') },
  discovered: { get: (r) => r.get('d1'), list: (r) => r.list(), put: (r) => r.put(entry('d2', [B], 2)), delete: (r) => r.delete('d1') },
  discoveryTokens: {
    put: (r) => r.put({ token: 'dt-2', mac: B, ip: '10.0.0.12', expiresAt: 2_000 }),
    get: (r) => r.get('dt-1'),
    byMac: (r) => r.byMac('52:54:00:00:00:0c'),
    prune: (r) => r.prune(0, 10),
  },
  retiredMacs: { put: (r) => r.put([B], 'm1', 5), get: (r) => r.get('52:54:00:00:00:0d') },
  replacements: { append: (r) => r.append(replacement('m1', 6)), list: (r) => r.list('m1') },
};

function each(access: Access): { name: string; call: (s: Repos) => Promise<unknown> }[] {
  return Object.entries(METHODS).flatMap(([repo, methods]) =>
    Object.entries(methods as Record<string, Access>)
      .filter(([, a]) => a === access)
      .map(([method]) => ({
        name: `${repo}.${method}`,
        call: (s: Repos) => (calls as unknown as Record<string, Record<string, (r: unknown) => Promise<unknown>>>)[repo][method](s[repo as keyof Repos]),
      })),
  );
}

/** An in-memory SQLite store holding one of everything. */
async function seeded(t: Test): Promise<Store> {
  const store = await openSqliteStore(':memory:');
  t.teardown(() => store.close());
  await store.profiles.put(profile('p1'));
  await store.machines.put(machine('m1', [A]));
  await store.status.put(status('m1', 1));
  await store.tokens.put(token('tk-1', 'm1', 'i1', 1_000));
  await store.leases.put(lease(A, '10.0.0.10'));
  await store.events.append({ machine: 'm1', kind: 'dhcp', level: 'info', message: 'seeded' }, 1);
  await store.hardware.put('m1', { inventory: { system: { serial: 'S1' } }, reportedAt: 1, source: 'discovery' });
  await store.rules.put(rule('r1', 1));
  await store.discovered.put(entry('d1', ['52:54:00:00:00:0c'], 1));
  await store.discoveryTokens.put({ token: 'dt-1', mac: '52:54:00:00:00:0c', ip: '10.0.0.13', expiresAt: 1_000 });
  await store.retiredMacs.put(['52:54:00:00:00:0d'], 'm1', 4);
  await store.replacements.append(replacement('m1', 4));
  return store;
}

async function readAll(s: Repos) {
  const out: Record<string, unknown> = {};
  for (const r of each('read')) out[r.name] = await r.call(s);
  return out;
}

/** A transaction on a store that takes no writes rejects with StoreUnavailable before fn runs. */
async function refusesTransaction(t: Test, store: Store): Promise<void> {
  let ran = false;
  const err = await store.transaction(async () => void (ran = true)).catch((e) => e);
  t.ok(err instanceof StoreUnavailable, 'a transaction rejects with StoreUnavailable');
  t.equal(ran, false, 'without running fn (its BEGIN failed)');
}

t.test('every method is classified and has a call here', async (t) => {
  t.equal(each('read').length, 23);
  t.equal(each('write').length, 24);
});

t.test('broken store: while broken every write rejects with StoreUnavailable and writes nothing; reads still answer', async (t) => {
  const inner = await seeded(t);
  const store = brokenStore(inner);
  const healthy = await readAll(store);
  t.same(healthy, await readAll(inner), 'healthy, reads are the inner store’s');
  t.equal((healthy['machines.get'] as { name: string }).name, 'm1', 'and find the seeded rows');

  store.break();
  t.equal(store.broken, true);
  for (const w of each('write')) {
    const err = await w.call(store).then(
      () => undefined,
      (e) => e,
    );
    t.ok(err instanceof StoreUnavailable, `${w.name} rejects with StoreUnavailable`);
  }
  t.same(store.refused, each('write').map((w) => w.name), 'each refusal is recorded by name');
  t.same(await readAll(store), healthy, 'reads answer as before, while broken');
  t.same(await readAll(inner), healthy, 'and the inner store holds nothing of the refused writes');

  await refusesTransaction(t, store);

  store.heal();
  t.equal(store.broken, false);
  await store.status.put(status('m1', 2, { reason: 'healed' }));
  t.match(await inner.status.get('m1'), { version: 2, reason: 'healed' }, 'healed, writes reach the inner store again');
  t.equal(await store.transaction(async (tx) => (await tx.status.get('m1'))?.version), 2, 'and transactions run again');
});

t.test('broken store: a transaction open when the store breaks keeps nothing', async (t) => {
  const inner = await seeded(t);
  const store = brokenStore(inner);
  const refused: string[] = [];
  const err = await store
    .transaction(async (tx) => {
      await tx.status.put(status('m1', 2));
      await tx.events.append({ kind: 'dhcp', level: 'info', message: 'in tx' }, 2);
      store.break();
      for (const w of each('write'))
        await w.call(tx).catch((e) => {
          if (e instanceof StoreUnavailable) refused.push(w.name);
        });
      t.equal((await tx.status.get('m1'))?.version, 2, 'reads through tx still answer, with its writes');
      return 'resolved anyway';
    })
    .catch((e) => e);
  t.same(refused, each('write').map((w) => w.name), 'writes through tx are refused once broken');
  t.ok(err instanceof StoreUnavailable, 'fn resolved, but the commit is refused');
  t.equal(store.refused.at(-1), 'commit');
  t.same(await inner.status.get('m1'), status('m1', 1), 'the status written before the break is rolled back');
  t.same((await inner.events.list({})).map((e) => e.message), ['seeded'], 'and the event');
});

t.test('empty store: every read finds nothing, every write rejects with StoreUnavailable', async (t) => {
  const store = emptyStore();
  for (const r of each('read')) t.same(await r.call(store), /\.(list|tail)$/.test(r.name) ? [] : undefined, `${r.name} finds nothing`);
  for (const w of each('write')) {
    const err = await w.call(store).then(
      () => undefined,
      (e) => e,
    );
    t.ok(err instanceof StoreUnavailable, `${w.name} rejects with StoreUnavailable`);
  }
  t.same(store.refused, each('write').map((w) => w.name));
  for (const r of each('read')) t.same(await r.call(store), /\.(list|tail)$/.test(r.name) ? [] : undefined, `${r.name} still finds nothing after the writes`);
  await refusesTransaction(t, store);
  await store.close();
});

t.test('slow store: every call, transactions included, waits its delay, then answers as the inner store', async (t) => {
  const ms = 25;
  const inner = await seeded(t);
  const store = slowStore(inner, ms);
  const timed = async <T>(p: () => Promise<T>) => {
    const start = performance.now();
    const value = await p();
    return { value, took: performance.now() - start };
  };
  // Timers may fire a fraction of a millisecond early; a store that does not wait answers in < 1 ms.
  const late = (took: number) => took >= ms - 1.5;
  for (const r of each('read')) {
    const { value, took } = await timed(() => r.call(store));
    t.ok(late(took), `${r.name} took ${took.toFixed(1)} ms`);
    t.same(value, await r.call(inner), `${r.name} answers as the inner store`);
  }
  for (const w of each('write')) {
    // Some of these are refused (a profile in use); the delay comes first all the same.
    const { took } = await timed(() => w.call(store).catch((e) => e));
    t.ok(late(took), `${w.name} took ${took.toFixed(1)} ms`);
  }
  t.same(
    (await inner.events.list({})).map((e) => e.message),
    ['seeded', 'new', 'new burst'],
    'writes reach the inner store',
  );
  t.equal(await inner.machines.get('m1'), undefined, 'the delete went through');

  const tx = await timed(() =>
    store.transaction(async (tx) => {
      const inside = await timed(() => tx.status.put(status('m1', 1, { reason: 'in tx' })));
      return inside.took;
    }),
  );
  t.ok(late(tx.value), `a write through tx took ${tx.value.toFixed(1)} ms`);
  t.ok(tx.took >= 2 * ms - 3, `the transaction took ${tx.took.toFixed(1)} ms: its own delay and its write's`);
  t.match(await inner.status.get('m1'), { version: 1, reason: 'in tx' }, 'and committed');
  const closed = await timed(() => store.close());
  t.ok(late(closed.took), `close took ${closed.took.toFixed(1)} ms`);
});

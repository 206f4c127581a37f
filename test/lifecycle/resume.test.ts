/**
 * Effects whose runner is gone (server/lifecycle/runners.ts): a converge or a power cycle under
 * way on an instance that dies, or restarts, is started again by exactly one live instance, and
 * never while its runner lives. Two or three lifecycles on one real PostgreSQL (each with its own
 * store, holding its own instance name), and one SQLite store reopened as a restart would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import t, { type Test } from 'tap';
import { Config } from '../../server/config/schema.js';
import { EventLog } from '../../server/lifecycle/event-log.js';
import { Lifecycle } from '../../server/lifecycle/lifecycle.js';
import { GONE_AFTER_MS } from '../../server/lifecycle/runners.js';
import { Machine } from '../../server/model/machine.js';
import { Profile } from '../../server/model/profile.js';
import { AddressBook } from '../../server/reads/address-book.js';
import { Reads } from '../../server/reads/reads.js';
import { openPostgresStore } from '../../server/store/postgres.js';
import { openSqliteStore } from '../../server/store/sqlite.js';
import type { StatusRepo, Store } from '../../server/store/store.js';
import { minimalProfile } from '../helpers/fixtures.js';
import { postgresForTest } from '../helpers/postgres.js';

const MACS: Record<string, string> = { m1: '52:54:00:11:22:31', m2: '52:54:00:11:22:32', m3: '52:54:00:11:22:33', m4: '52:54:00:11:22:34' };

/**
 * What the instances' power drivers and convergers were asked, in order: "rack-a pxe m1",
 * "rack-b converge m1", "rack-c converge m1 after cfg,svc" (the steps an interrupted run may have changed).
 */
type Calls = string[];
/** Calls that do not return until released: "power m1" holds m1's one-time PXE boot, "converge m1" its converge. */
class Holds {
  private readonly held = new Map<string, () => void>();
  private readonly waits = new Map<string, Promise<void>>();
  constructor(t: Test, whats: string[] = []) {
    for (const what of whats) this.waits.set(what, new Promise((resolve) => this.held.set(what, resolve)));
    t.teardown(() => this.releaseAll());
  }
  wait(what: string): Promise<void> | undefined {
    return this.waits.get(what);
  }
  releaseAll(): void {
    for (const release of this.held.values()) release();
  }
}

/** One kickstand instance: a lifecycle named `instance` on `store`, with recording drivers. */
function instanceOn(t: Test, store: Store, instance: string, calls: Calls, holds = new Holds(t)) {
  const reads = new Reads(store, new AddressBook());
  const logger = pino({ level: 'silent' });
  const events = new EventLog(store, reads, logger);
  const lifecycle = new Lifecycle({
    store,
    reads,
    events,
    config: Config.parse({ instance }),
    logger,
    power: (m) => ({
      bootOnceToPxe: async () => {
        calls.push(`${instance} pxe ${m.name}`);
        await holds.wait(`power ${m.name}`);
      },
      cycle: async () => void calls.push(`${instance} cycle ${m.name}`),
    }),
    converge: async (r) => {
      calls.push(`${instance} converge ${r.machine.name}${r.changedBefore?.length ? ` after ${r.changedBefore.join(',')}` : ''}`);
      await holds.wait(`converge ${r.machine.name}`);
      return { ok: true };
    },
  });
  let dead = false;
  t.teardown(async () => {
    if (dead) return;
    await lifecycle.idle();
    lifecycle.close();
    await store.close();
  });
  return {
    store,
    reads,
    events,
    lifecycle,
    /** Gone as a killed process is: its effects never finish, its store (and name lock) closes. */
    async die() {
      dead = true;
      lifecycle.close();
      await store.close();
    },
  };
}

type Instance = ReturnType<typeof instanceOn>;

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Takes a registered machine through a reinstall to `installed` on `x`, whose converger then starts. */
async function toInstalled(x: Instance, name: string) {
  await x.lifecycle.reinstall(name);
  await x.lifecycle.idle();
  await x.lifecycle.step(name, { kind: 'callback', event: 'start' });
  await x.lifecycle.step(name, { kind: 'callback', event: 'built' });
}

/** Profile p1 and these machines, registered. */
async function inventory(x: Instance, machines: string[]) {
  await x.store.profiles.put(Profile.parse(minimalProfile('p1', 'uefi')));
  for (const name of machines) await x.lifecycle.register(name, (tx) => tx.machines.put(Machine.parse({ name, profile: 'p1', macs: [MACS[name]] })));
}

const transitions = async (x: Instance, m: string) =>
  (await x.reads.events({ machine: m, limit: 1000 })).filter((e) => e.kind === 'state').map((e) => `${e.data!.from}→${e.data!.to}`);
const resumptions = async (x: Instance, m: string) => (await x.reads.events({ machine: m, limit: 1000 })).filter((e) => e.data?.resumed);

const pg = await postgresForTest(t);
if (pg) {
  /** A fresh database with the machines, and an instance on it per name; the first one's calls `held` do not return. */
  const rack = async (t: Test, names: string[], held: string[], machines: string[]) => {
    const url = await pg.createDatabase(t);
    const calls: Calls = [];
    const holds = new Holds(t, held);
    const xs: Instance[] = [];
    for (const [i, name] of names.entries()) xs.push(instanceOn(t, await openPostgresStore(url, { instance: name }), name, calls, i === 0 ? holds : undefined));
    await inventory(xs[0], machines);
    return { url, calls, holds, xs };
  };

  t.test('the store tells the instances holding their names from the rest', async (t) => {
    const url = await pg.createDatabase(t);
    // Enough names that both signs of the 64-bit lock key (its high half over 2^31 or not) are among them.
    const names = ['rack-a', 'rack-b', 'rack-c', 'rack-d', 'rack-e', 'rack-f'];
    const stores = await Promise.all(names.slice(0, 3).map((instance) => openPostgresStore(url, { instance })));
    t.teardown(() => Promise.all(stores.map((s) => s.close())));
    t.same([...(await stores[0].liveInstances!(names))].sort(), ['rack-a', 'rack-b', 'rack-c'], 'the three that run');
    await stores[1].close();
    t.same([...(await stores[0].liveInstances!(names))].sort(), ['rack-a', 'rack-c'], 'a closed one lets go of its name at once');
    t.same([...(await stores[2].liveInstances!([]))], [], 'nothing asked, nothing answered');
  });

  t.test('an instance that dies mid-converge: one of the others resumes it, once, and the machine ends ready', async (t) => {
    const { calls, xs: [a, b, c] } = await rack(t, ['rack-a', 'rack-b', 'rack-c'], ['converge m1'], ['m1']);
    await toInstalled(a, 'm1');
    await until('rack-a to converge m1', () => calls.includes('rack-a converge m1'));
    t.match(await b.reads.status('m1'), { state: 'converging', runner: { instance: 'rack-a' } }, 'the status names the instance that runs the converge');

    await a.die();
    const died = Date.now();
    await until('the converge to be resumed and done', async () => {
      await Promise.all([b.lifecycle.tick(), c.lifecycle.tick()]);
      return (await b.reads.status('m1'))!.state === 'ready';
    });
    t.ok(Date.now() - died >= GONE_AFTER_MS, `resumed ${Date.now() - died} ms after the death: not before the name was missing ${GONE_AFTER_MS} ms`);
    for (let i = 0; i < 3; i++) await Promise.all([b.lifecycle.tick(), c.lifecycle.tick()]);
    await Promise.all([b.lifecycle.idle(), c.lifecycle.idle()]);

    const converges = calls.filter((x) => x.includes('converge'));
    t.equal(converges.length, 2, `converged by rack-a, then once more by one live instance: ${converges.join(', ')}`);
    t.match(converges[1], /^rack-[bc] converge m1$/);
    const by = converges[1].split(' ')[0];
    const resumed = await resumptions(b, 'm1');
    t.equal(resumed.length, 1, 'one resumption');
    t.equal(resumed[0].message, `instance rack-a is gone (no name lock): converge resumed by ${by}`);
    t.match(resumed[0], { kind: 'converge', level: 'warn', instance: by, data: { resumed: 'converge', from: 'rack-a', by } });
    const moves = await transitions(b, 'm1');
    t.same(moves.slice(-3), ['installing→installed', 'installed→converging', 'converging→ready']);
    t.equal(moves.filter((m) => m === 'converging→ready').length, 1, 'ready written once');
    t.equal((await b.reads.status('m1'))!.runner, undefined, 'no runner once the machine rests');
  });

  t.test('a resumed converge: what the dead run changed, or was changing, still fires its triggers', async (t) => {
    const { calls, xs: [a, b, c] } = await rack(t, ['rack-a', 'rack-b', 'rack-c'], ['converge m1'], ['m1']);
    await toInstalled(a, 'm1');
    await until('rack-a to converge m1', () => calls.includes('rack-a converge m1'));
    // What converge.ts reports as it goes: cfg was rewritten, svc (its restartOn) had begun.
    const step = (name: string, status?: string) =>
      a.events.report({ machine: 'm1', kind: 'converge', level: 'info', message: `step ${name}${status ? `: ${status}` : ' started'}`, data: { mode: 'apply', step: name, ...(status ? { status } : {}) } });
    step('pkgs');
    step('pkgs', 'ok');
    step('cfg');
    step('cfg', 'changed');
    step('svc');
    await a.events.flush();
    await a.die();
    await until('the converge to be resumed and done', async () => {
      await Promise.all([b.lifecycle.tick(), c.lifecycle.tick()]);
      return (await b.reads.status('m1'))!.state === 'ready';
    });
    await Promise.all([b.lifecycle.idle(), c.lifecycle.idle()]);
    const converges = calls.filter((x) => x.includes('converge'));
    t.equal(converges.length, 2, converges.join(', '));
    t.match(converges[1], /^rack-[bc] converge m1 after cfg,svc$/, 'the resumed run is told cfg changed and svc was under way; pkgs changed nothing');
  });

  t.test('an instance that dies mid-power-cycle: another sends it, once; a power cycle already sent is not sent again', async (t) => {
    const { calls, xs: [a, b, c] } = await rack(t, ['rack-a', 'rack-b', 'rack-c'], ['power m1'], ['m1', 'm2']);
    await a.lifecycle.reinstall('m2');
    await until('rack-a to power-cycle m2', () => calls.includes('rack-a cycle m2'));
    await a.lifecycle.reinstall('m1');
    await until('rack-a to set m1 to boot PXE', () => calls.includes('rack-a pxe m1'));
    t.match(await b.reads.status('m1'), { state: 'power-cycling', runner: { instance: 'rack-a' } });

    await a.die();
    await until('m1 to be power-cycled by another', async () => {
      await Promise.all([b.lifecycle.tick(), c.lifecycle.tick()]);
      return calls.some((x) => /^rack-[bc] cycle m1$/.test(x));
    });
    for (let i = 0; i < 3; i++) await Promise.all([b.lifecycle.tick(), c.lifecycle.tick()]);
    await Promise.all([b.lifecycle.idle(), c.lifecycle.idle()]);

    const by = calls.find((x) => /^rack-[bc] cycle m1$/.test(x))!.split(' ')[0];
    t.same(calls, ['rack-a pxe m2', 'rack-a cycle m2', 'rack-a pxe m1', `${by} pxe m1`, `${by} cycle m1`], 'm1 once more, by one instance; m2 not again');
    const resumed = await resumptions(b, 'm1');
    t.same(
      resumed.map((e) => [e.kind, e.instance, e.message]),
      [['power', by, `instance rack-a is gone (no name lock): power cycle resumed by ${by}`]],
    );
    const sent = (await b.reads.events({ machine: 'm1', limit: 1000 })).filter((e) => e.message === 'power cycle sent');
    t.same(sent.map((e) => e.instance), [by], 'the power cycle went out once, from the instance that resumed it');
    t.match(await b.reads.status('m1'), { state: 'power-cycling', runner: { instance: by } });
    t.same(await resumptions(b, 'm2'), [], 'm2: its power cycle had gone out, nothing to resume');
    t.match(await b.reads.status('m2'), { state: 'power-cycling', runner: { instance: 'rack-a' } });
  });

  t.test('while its runner lives, even with its name lock lost for a moment, nobody takes an effect over', async (t) => {
    const { url, calls, holds, xs: [a, b] } = await rack(t, ['rack-a', 'rack-b'], ['converge m1'], ['m1']);
    await toInstalled(a, 'm1');
    await until('rack-a to converge m1', () => calls.includes('rack-a converge m1'));
    const tickFor = async (ms: number) => {
      for (const end = Date.now() + ms; Date.now() < end; ) {
        await b.lifecycle.tick();
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await tickFor(GONE_AFTER_MS + 1_000);
    t.match(await b.reads.status('m1'), { state: 'converging', runner: { instance: 'rack-a' } }, 'rack-a still runs it');

    // PostgreSQL ends rack-a's lock session (as a server restart would): rack-a takes its name back within a second.
    const ended = pg.psql(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'kickstand rack-a'`, url.split('/').pop());
    t.equal(ended.trim(), '1', "rack-a's name-lock session ended");
    await tickFor(GONE_AFTER_MS + 1_000);
    t.same([...(await b.store.liveInstances!(['rack-a']))], ['rack-a'], 'rack-a holds its name again');

    holds.releaseAll();
    await until('rack-a to finish', async () => (await b.reads.status('m1'))!.state === 'ready');
    t.same(calls, ['rack-a pxe m1', 'rack-a cycle m1', 'rack-a converge m1'], 'rack-b never ran it');
    t.same(await resumptions(b, 'm1'), []);
  });
}

/** The store, except that the first run dies before m4's power cycle starts: its power-cycling is never written. */
const diesBeforePowerCycling = (store: Store): Store => {
  const dies = (repo: StatusRepo): StatusRepo => ({
    ...repo,
    put: (s, events) => (s.machine === 'm4' && s.state === 'power-cycling' ? Promise.reject(new Error('killed')) : repo.put(s, events)),
  });
  return { ...store, status: dies(store.status), transaction: (fn, opts) => store.transaction((tx) => fn({ ...tx, status: dies(tx.status) }), opts) };
};

t.test('SQLite, restarted: what the last run had under way is resumed, a power cycle it sent is not sent again', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-resume-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'kickstand.db');
  const calls: Calls = [];
  const first = instanceOn(t, diesBeforePowerCycling(await openSqliteStore(file)), 'rack-a', calls, new Holds(t, ['converge m1', 'power m2']));
  await inventory(first, ['m1', 'm2', 'm3', 'm4']);
  await toInstalled(first, 'm1');
  await first.lifecycle.reinstall('m3');
  await first.lifecycle.reinstall('m2');
  await first.lifecycle.reinstall('m4');
  await until('the first run to converge m1 and power-cycle m3, and m2 to hang', () =>
    ['rack-a converge m1', 'rack-a cycle m3', 'rack-a pxe m2'].every((x) => calls.includes(x)),
  );
  await first.lifecycle.tick();
  t.same(await resumptions(first, 'm1'), [], 'its own effects: nothing to resume');
  t.match(await first.reads.status('m4'), { state: 'reinstall-requested', runner: { instance: 'rack-a' } }, 'm4: its power cycle never started');
  await first.die();
  const before = calls.length;

  const second = instanceOn(t, await openSqliteStore(file), 'rack-a', calls);
  await second.lifecycle.tick();
  await second.lifecycle.idle();
  await second.lifecycle.tick();
  await second.lifecycle.idle();
  t.same(
    calls.slice(before).sort(),
    ['rack-a converge m1', 'rack-a cycle m2', 'rack-a cycle m4', 'rack-a pxe m2', 'rack-a pxe m4'],
    'm1 converged again, m2 and m4 power-cycled, m3 not again',
  );
  t.equal((await second.reads.status('m1'))!.state, 'ready');
  t.equal((await second.reads.status('m4'))!.state, 'power-cycling');
  const messages = async (m: string) => (await resumptions(second, m)).map((e) => e.message);
  t.same(await messages('m1'), ['instance rack-a restarted: converge resumed by rack-a']);
  t.same(await messages('m2'), ['instance rack-a restarted: power cycle resumed by rack-a']);
  t.same(await messages('m3'), []);
  t.same(await messages('m4'), ['instance rack-a restarted: power cycle resumed by rack-a']);
  t.equal((await transitions(second, 'm1')).filter((m) => m === 'converging→ready').length, 1);
});

import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import { ConflictError } from '../../server/model/errors.js';
import type { BootEvent, StoredEvent } from '../../server/model/events.js';
import type { Lease } from '../../server/model/lease.js';
import { Machine } from '../../server/model/machine.js';
import { Profile } from '../../server/model/profile.js';
import type { MachineStatus } from '../../server/model/status.js';
import type { InstallToken } from '../../server/model/token.js';
import { type DiscoveredEntry, type Replacement, Rule, type RuleInput } from '../../server/model/discovery.js';
import type { Store, TransactionOptions } from '../../server/store/store.js';
import { minimalProfile } from '../helpers/fixtures.js';

/**
 * What every Store must do (server/store/store.ts), as tap subtests over a factory. Each subtest
 * opens a fresh, empty store and closes it at the end; the factory may register its own
 * teardown on the test it is given (it runs after the close). The factory opens the store under
 * the instance name it is given (StoreOptions.instance): the events the store writes come back
 * with that name.
 *
 *   storeContract(t, 'sqlite', (t, opts) => openSqliteStoreInTempDir(t, opts));
 *
 * Reads come before and after each write on purpose: an implementation that remembers rows
 * (the SQLite store does) must not answer from memory what a write or a rollback changed.
 */
export type ContractStoreFactory = (t: Test, opts: { instance: string }) => Promise<Store>;

/** The instance name the contract opens its stores under. */
export const CONTRACT_INSTANCE = 'contract-1';

const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';
const C = '52:54:00:00:00:0c';
const D = '52:54:00:00:00:0d';
const E = '52:54:00:00:00:0e';

export const profile = (name: string, patch: Record<string, unknown> = {}): Profile => Profile.parse({ ...minimalProfile(name), ...patch });
export const machine = (name: string, macs: string[], profileName = 'p1', patch: Record<string, unknown> = {}): Machine =>
  Machine.parse({ name, macs, profile: profileName, ...patch });
export const status = (m: string, version: number, patch: Partial<MachineStatus> = {}): MachineStatus => ({
  machine: m,
  state: 'registered',
  netboot: 'local',
  stateSince: 1_000 + version,
  hostKeys: [],
  version,
  ...patch,
});
export const token = (value: string, m: string, installId: string, expiresAt: number): InstallToken => ({ token: value, machine: m, installId, expiresAt });
export const lease = (mac: string, ip: string, patch: Partial<Lease> = {}): Lease => ({
  mac,
  ip,
  subnet: '10.0.0.0/24',
  state: 'bound',
  expiresAt: 9_000,
  updatedAt: 1_000,
  ...patch,
});
export const rule = (name: string, priority: number, patch: Partial<RuleInput> = {}): Rule =>
  Rule.parse({ name, priority, profile: 'p1', match: [{ key: 'system.product', operator: 'In', values: ['R640'] }], ...patch });
export const entry = (id: string, macs: string[], seenAt: number, patch: Partial<DiscoveredEntry> = {}): DiscoveredEntry => ({
  id,
  macs,
  state: 'new',
  summary: `box ${id}`,
  firstSeenAt: seenAt,
  seenAt,
  inventory: { system: { product: 'R640', serial: `S-${id}` }, interfaces: macs.map((mac, i) => ({ name: `eth${i}`, mac })) },
  ...patch,
});
export const replacement = (m: string, at: number, patch: Partial<Replacement> = {}): Replacement => ({
  machine: m,
  at,
  entry: `e${at}`,
  slot: { data0: { switch: 'sw-a3', port: 'Ethernet1/12' } },
  oldMacs: ['52:54:00:00:01:01'],
  newMacs: ['52:54:00:00:02:02'],
  oldSerial: 'OLD1',
  newSerial: 'NEW1',
  ...patch,
});
const event = (message: string, patch: Partial<BootEvent> = {}): BootEvent => ({ kind: 'dhcp', level: 'info', message, ...patch });

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(t: Test, p: Promise<unknown>, what: string): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  t.fail(`${what}: expected a rejection, it resolved`);
  return undefined;
}

async function conflict(t: Test, p: Promise<unknown>, field: string | undefined, what: string): Promise<void> {
  const err = await rejection(t, p, what);
  t.ok(err instanceof ConflictError, `${what}: ConflictError (got ${(err as Error)?.name}: ${(err as Error)?.message})`);
  if (field !== undefined) t.equal((err as ConflictError).field, field, `${what}: names the field ${field}`);
}

const names = (xs: { name: string }[]) => xs.map((x) => x.name).sort();
const byMac = (ls: Lease[]) => [...ls].sort((a, b) => a.mac.localeCompare(b.mac));

/**
 * How the store runs transactions (store.ts): 'serial' on one connection (SQLite, and the
 * fakes over it), 'concurrent' on a pool (PostgreSQL). The rest of the contract is the same.
 */
export type ContractTransactions = 'serial' | 'concurrent';

export function storeContract(t: Test, label: string, factory: ContractStoreFactory, transactions: ContractTransactions = 'serial'): Promise<unknown> {
  const instance = CONTRACT_INSTANCE;
  const open = async (t: Test) => {
    const store = await factory(t, { instance });
    t.teardown(() => store.close());
    return store;
  };

  return t.test(`store contract: ${label}`, async (t) => {
    t.test('hardware: put, get, replaced, gone with its machine', async (t) => {
      const store = await open(t);
      await store.profiles.put(profile('p1'));
      await store.machines.put(machine('m1', [A]));
      t.equal(await store.hardware.get('m1'), undefined, 'no report yet');
      const rec = { inventory: { system: { serial: 'X1', vendorExtra: { deep: [1, 2] } }, disks: [{ name: 'sda', sizeBytes: 1 << 30 }] }, reportedAt: 5_000, source: 'discovery' as const };
      await store.hardware.put('m1', rec);
      t.same(await store.hardware.get('m1'), rec, 'get returns the report, unknown fields kept');
      const newer = { inventory: { system: { serial: 'X2' } }, reportedAt: 6_000, source: 'install' as const };
      await store.hardware.put('m1', newer);
      t.same(await store.hardware.get('m1'), newer, 'a newer report replaces it');
      await conflict(t, store.hardware.put('ghost', rec), 'machine', 'hardware of a machine that does not exist');
      t.equal(await store.hardware.get('ghost'), undefined);
      await store.machines.put(machine('m1', [A, B]));
      t.same(await store.hardware.get('m1'), newer, 'replacing the machine keeps its hardware');
      await store.machines.delete('m1');
      t.equal(await store.hardware.get('m1'), undefined, 'deleting the machine deletes its hardware');
    });

    t.test('rules: put, get, list by priority, delete', async (t) => {
      const store = await open(t);
      t.same(await store.rules.list(), [], 'none at first');
      const low = rule('low', 1);
      const high = rule('high', 50, { accept: 'auto', maxCount: 3, machineName: 'web-{{system.serial}}' });
      const mid = rule('mid', 10);
      for (const r of [low, high, mid]) await store.rules.put(r);
      t.same(await store.rules.get('high'), high, 'get returns every field');
      t.same((await store.rules.list()).map((r) => r.name), ['high', 'mid', 'low'], 'highest priority first');
      await store.rules.put({ ...low, priority: 99 });
      t.same((await store.rules.list()).map((r) => r.name), ['low', 'high', 'mid'], 'a changed priority reorders');
      t.equal((await store.rules.get('low'))?.priority, 99);
      t.equal(await store.rules.delete('mid'), true);
      t.equal(await store.rules.delete('mid'), false, 'a second delete finds nothing');
      t.equal(await store.rules.get('mid'), undefined);
      t.same((await store.rules.list()).map((r) => r.name), ['low', 'high']);
    });

    t.test('discovered: put, get, list by last seen, delete', async (t) => {
      const store = await open(t);
      t.same(await store.discovered.list(), [], 'none at first');
      const e1 = entry('d1', [A], 1_000);
      const e2 = entry('d2', [B, C], 2_000, { state: 'matched', rule: 'r1', reason: 'needs a static address' });
      await store.discovered.put(e1);
      await store.discovered.put(e2);
      t.same(await store.discovered.get('d2'), e2, 'get returns every field');
      t.same((await store.discovered.list()).map((e) => e.id), ['d2', 'd1'], 'most recently seen first');
      const seenAgain = { ...e1, seenAt: 3_000, state: 'accepted' as const, machine: 'web-1' };
      await store.discovered.put(seenAgain);
      t.same(await store.discovered.get('d1'), seenAgain, 'a put replaces the entry');
      t.same((await store.discovered.list()).map((e) => e.id), ['d1', 'd2'], 'and moves it up');
      t.equal(await store.discovered.delete('d1'), true);
      t.equal(await store.discovered.delete('d1'), false);
      t.equal(await store.discovered.get('d1'), undefined);
      t.same((await store.discovered.list()).map((e) => e.id), ['d2']);
    });

    t.test('discovery tokens: one per MAC, single report, prune by expiry', async (t) => {
      const store = await open(t);
      t.equal(await store.discoveryTokens.get('nope'), undefined);
      const t1 = { token: 'dt-1', mac: A, ip: '10.0.0.5', expiresAt: 5_000 };
      await store.discoveryTokens.put(t1);
      t.same(await store.discoveryTokens.get('dt-1'), t1);
      const used = { ...t1, entryId: 'd1' };
      await store.discoveryTokens.put(used);
      t.same(await store.discoveryTokens.get('dt-1'), used, 'the entry the report went to is kept');
      const t2 = { token: 'dt-2', mac: A, ip: '10.0.0.6', expiresAt: 9_000 };
      await store.discoveryTokens.put(t2);
      t.equal(await store.discoveryTokens.get('dt-1'), undefined, "a MAC's new token replaces its previous one");
      t.same(await store.discoveryTokens.get('dt-2'), t2);
      t.same(await store.discoveryTokens.byMac(A), t2, 'byMac finds the MAC’s one token');
      t.equal(await store.discoveryTokens.byMac(C), undefined);
      await store.discoveryTokens.put({ token: 'dt-3', mac: B, ip: '10.0.0.7', expiresAt: 1_000, revokedAt: 900 });
      t.equal((await store.discoveryTokens.get('dt-3'))?.revokedAt, 900);
      t.equal(await store.discoveryTokens.prune(2_000, 10), 1, 'prune deletes what expired before');
      t.equal(await store.discoveryTokens.get('dt-3'), undefined);
      t.same(await store.discoveryTokens.get('dt-2'), t2, 'and keeps what lives');
    });

    t.test('retired MACs and replacements: put, get, history oldest first', async (t) => {
      const store = await open(t);
      t.equal(await store.retiredMacs.get(A), undefined);
      await store.retiredMacs.put([A, B], 'web-x', 1_000);
      t.same(await store.retiredMacs.get(B), { machine: 'web-x', at: 1_000 });
      await store.retiredMacs.put([B], 'web-y', 2_000);
      t.same(await store.retiredMacs.get(B), { machine: 'web-y', at: 2_000 }, 'the newer retirement wins');
      t.same(await store.retiredMacs.get(A), { machine: 'web-x', at: 1_000 }, 'the other MAC keeps its own');
      t.same(await store.replacements.list('web-x'), []);
      const r1 = replacement('web-x', 1_000);
      const r2 = replacement('web-x', 2_000, { oldMacs: r1.newMacs, newMacs: ['52:54:00:00:03:03'], oldSerial: 'NEW1', newSerial: undefined });
      await store.replacements.append(r1);
      await store.replacements.append(replacement('web-y', 1_500));
      await store.replacements.append(r2);
      t.same(await store.replacements.list('web-x'), [r1, JSON.parse(JSON.stringify(r2))], "one machine's history, oldest first");
      t.equal((await store.replacements.list('web-y')).length, 1);
    });

    t.test('discovery writes commit or roll back with a transaction', async (t) => {
      const store = await open(t);
      await store.profiles.put(profile('p1'));
      await store
        .transaction(async (tx) => {
          await tx.machines.put(machine('m1', [A]));
          await tx.hardware.put('m1', { inventory: {}, reportedAt: 1, source: 'discovery' });
          await tx.discovered.put(entry('d1', [A], 1, { state: 'accepted', machine: 'm1' }));
          throw new Error('abort');
        })
        .catch(() => undefined);
      t.equal(await store.machines.get('m1'), undefined, 'no machine');
      t.equal(await store.hardware.get('m1'), undefined, 'no hardware');
      t.equal(await store.discovered.get('d1'), undefined, 'no entry');
      await store.transaction(async (tx) => {
        await tx.machines.put(machine('m1', [A]));
        await tx.hardware.put('m1', { inventory: {}, reportedAt: 1, source: 'discovery' });
        await tx.discovered.put(entry('d1', [A], 1, { state: 'accepted', machine: 'm1' }));
      });
      t.equal((await store.discovered.get('d1'))?.machine, 'm1', 'committed together');
      t.ok(await store.hardware.get('m1'));
    });

    t.test('machines: put, get, list, byMac, delete', async (t) => {
      const store = await open(t);
      await store.profiles.put(profile('p1'));
      await store.profiles.put(profile('p2'));
      t.equal(await store.machines.get('m1'), undefined, 'an unknown name finds nothing');
      t.equal(await store.machines.byMac(A), undefined, 'an unknown MAC finds nothing');
      t.same(await store.machines.list(), [], 'a new store lists no machine');

      const m1 = machine('m1', [A, B], 'p1', { params: { rack: 'a1', u: 12, spare: false }, bmc: { driver: 'ipmi', address: '10.9.0.1', password: 'pw' } });
      await store.machines.put(m1);
      t.same(await store.machines.get('m1'), m1, 'get returns what put wrote, every field');
      t.same(await store.machines.byMac(A), m1, 'found by its first MAC');
      t.same(await store.machines.byMac(B), m1, 'found by its second MAC');
      t.equal(await store.machines.byMac(C), undefined, 'another MAC finds nothing');
      const m2 = machine('m2', [C], 'p2');
      await store.machines.put(m2);
      t.same(names(await store.machines.list()), ['m1', 'm2'], 'list holds both');
      t.same((await store.machines.list()).find((m) => m.name === 'm2'), m2, 'list returns whole machines');

      const edited = { ...m1, params: { rack: 'b7' } };
      await store.machines.put(edited);
      t.same(await store.machines.get('m1'), edited, 'a put replaces the machine (get after a get)');
      t.same(await store.machines.byMac(A), edited, 'byMac sees the replacement');
      t.equal((await store.machines.list()).length, 2, 'replacing does not add a machine');
    });

    t.test('machines: a MAC belongs to one machine', async (t) => {
      const store = await open(t);
      await store.profiles.put(profile('p1'));
      const m1 = machine('m1', [A, B]);
      const m2 = machine('m2', [C]);
      await store.machines.put(m1);
      await store.machines.put(m2);
      t.same(await store.machines.get('m2'), m2);

      await conflict(t, store.machines.put(machine('m2', [C, A])), 'macs', "m2 taking m1's MAC");
      t.same(await store.machines.get('m2'), m2, 'the refused put left m2 as it was');
      t.equal((await store.machines.byMac(A))?.name, 'm1', 'the MAC still finds m1');
      t.equal((await store.machines.byMac(C))?.name, 'm2', "and m2's own MAC still finds m2");

      await conflict(t, store.machines.put(machine('m3', [D, B])), 'macs', "a new machine with m1's MAC");
      t.equal(await store.machines.get('m3'), undefined, 'the refused machine was not created');
      t.equal(await store.machines.byMac(D), undefined, 'nor its other MAC claimed');
      t.same(names(await store.machines.list()), ['m1', 'm2']);

      await store.machines.put({ ...m1, macs: [B, D] });
      t.equal(await store.machines.byMac(A), undefined, 'a MAC dropped from a machine finds nothing');
      t.equal((await store.machines.byMac(D))?.name, 'm1', 'its new MAC finds it');
      t.equal((await store.machines.byMac(B))?.name, 'm1', 'a MAC it kept still finds it');
      await store.machines.put(machine('m3', [A]));
      t.equal((await store.machines.byMac(A))?.name, 'm3', 'the dropped MAC is free for another machine');
    });

    t.test('machines: delete takes the machine and its MACs, not its status or tokens', async (t) => {
      const store = await open(t);
      await store.profiles.put(profile('p1'));
      const m1 = machine('m1', [A, B]);
      await store.machines.put(m1);
      await store.machines.put(machine('m2', [C]));
      await store.status.put(status('m1', 1));
      await store.tokens.put(token('tk-m1', 'm1', 'i1', 5_000));
      t.same(await store.machines.get('m1'), m1, 'read before the delete');
      t.equal((await store.machines.byMac(A))?.name, 'm1');

      t.equal(await store.machines.delete('m1'), true, 'delete of an existing machine: true');
      t.equal(await store.machines.get('m1'), undefined, 'get finds nothing after');
      t.equal(await store.machines.byMac(A), undefined, 'its first MAC finds nothing');
      t.equal(await store.machines.byMac(B), undefined, 'its second MAC finds nothing');
      t.same(names(await store.machines.list()), ['m2'], 'list has the other machine only');
      t.equal(await store.machines.delete('m1'), false, 'a second delete: false');
      t.equal(await store.machines.delete('never'), false, 'delete of an unknown name: false');

      t.same(await store.status.get('m1'), status('m1', 1), "its status stays (the lifecycle's to delete)");
      t.same(await store.tokens.get('tk-m1'), token('tk-m1', 'm1', 'i1', 5_000), 'its token stays');
      t.same(await store.tokens.current('m1'), token('tk-m1', 'm1', 'i1', 5_000), 'and is still current');

      await store.machines.put(machine('m3', [A, B]));
      t.equal((await store.machines.byMac(B))?.name, 'm3', 'its MACs are free for another machine');
    });

    t.test('profiles: put, get, list, delete; refused while a machine uses it', async (t) => {
      const store = await open(t);
      t.equal(await store.profiles.get('p1'), undefined);
      t.same(await store.profiles.list(), []);
      const p1 = profile('p1');
      const p2 = profile('p2', { firmware: 'uefi', packages: ['tmux'] });
      await store.profiles.put(p1);
      await store.profiles.put(p2);
      t.same(await store.profiles.get('p1'), p1, 'round-trips');
      t.same(await store.profiles.get('p2'), p2, 'round-trips, every field');
      t.same(names(await store.profiles.list()), ['p1', 'p2']);

      const p1b = profile('p1', { packages: ['vim'], kernelArgs: ['console=ttyS0'] });
      await store.profiles.put(p1b);
      t.same(await store.profiles.get('p1'), p1b, 'a put replaces the profile (get after a get)');
      t.equal((await store.profiles.list()).length, 2, 'replacing does not add one');

      await store.machines.put(machine('m1', [A], 'p1'));
      await conflict(t, store.profiles.delete('p1'), undefined, 'delete of a profile in use');
      t.same(await store.profiles.get('p1'), p1b, 'the profile in use is still there');
      t.same(names(await store.profiles.list()), ['p1', 'p2']);

      await store.machines.put(machine('m1', [A], 'p2'));
      await conflict(t, store.profiles.delete('p2'), undefined, 'delete of the profile the machine moved to');
      t.equal(await store.profiles.delete('p1'), true, 'the profile the machine left can go');
      t.equal(await store.profiles.get('p1'), undefined);
      t.same(names(await store.profiles.list()), ['p2']);
      t.equal(await store.profiles.delete('p1'), false, 'a second delete: false');

      await store.machines.delete('m1');
      t.equal(await store.profiles.delete('p2'), true, 'unused once its machine is deleted');
      t.same(await store.profiles.list(), []);
    });

    t.test('status: optimistic versions, delete', async (t) => {
      const store = await open(t);
      await store.profiles.put(profile('p1'));
      await store.machines.put(machine('m1', [A]));
      await store.machines.put(machine('m2', [B]));
      t.equal(await store.status.get('m1'), undefined);
      t.same(await store.status.list(), []);

      await conflict(t, store.status.put(status('m1', 2)), 'version', 'a new row written as version 2');
      t.equal(await store.status.get('m1'), undefined, 'and nothing was written');
      await conflict(t, store.status.put(status('m1', 0)), 'version', 'a new row written as version 0');

      const v1 = status('m1', 1);
      await store.status.put(v1);
      t.same(await store.status.get('m1'), v1, 'version 1 creates the row');
      await conflict(t, store.status.put(status('m1', 1, { state: 'failed' })), 'version', 'version 1 again (stale)');
      await conflict(t, store.status.put(status('m1', 3)), 'version', 'version 3 over 1 (skipped)');
      t.same(await store.status.get('m1'), v1, 'the refused puts left version 1');

      const v2 = status('m1', 2, {
        state: 'failed',
        netboot: 'install',
        phase: 'installing',
        reason: 'kickstart %pre failed',
        hint: 'see the log',
        installId: 'i-2',
        deadline: 99_000,
        startedAt: 50,
        hostKeys: ['ssh-ed25519 AAAA'],
      });
      await store.status.put(v2);
      t.same(await store.status.get('m1'), v2, 'version 2 over 1, every field round-trips');
      await conflict(t, store.status.put(status('m1', 2)), 'version', 'version 2 again (stale)');
      await conflict(t, store.status.put(status('m1', 1)), 'version', 'version 1 over 2 (stale)');
      t.same(await store.status.get('m1'), v2, 'still version 2');
      const v3 = status('m1', 3, { state: 'ready' });
      await store.status.put(v3);
      t.same(await store.status.get('m1'), v3);

      await store.status.put(status('m2', 1));
      t.same(
        (await store.status.list()).sort((a, b) => a.machine.localeCompare(b.machine)),
        [v3, status('m2', 1)],
        'list holds every row',
      );

      t.equal(await store.status.delete('m1'), true, 'delete of an existing row: true');
      t.equal(await store.status.get('m1'), undefined, 'gone (get after a get)');
      t.same((await store.status.list()).map((s) => s.machine), ['m2']);
      t.equal(await store.status.delete('m1'), false, 'a second delete: false');
      await conflict(t, store.status.put(status('m1', 4)), 'version', 'a deleted row does not keep its version');
      await store.status.put(status('m1', 1));
      t.same(await store.status.get('m1'), status('m1', 1), 'a deleted row starts again at version 1');
      t.ok(await store.machines.get('m1'), 'deleting a status leaves the machine');
    });

    t.test('status: put with its events commits both or neither', async (t) => {
      const store = await open(t);
      await store.profiles.put(profile('p1'));
      await store.machines.put(machine('m1', [A]));
      const told = (message: string, at: number) => ({ event: event(message, { machine: 'm1', kind: 'state' }), at });
      t.same(await store.status.put(status('m1', 1)), [], 'without events: none stored');
      const before = (await store.events.append(event('before'), 500)).id;
      const stored = await store.status.put(status('m1', 2, { state: 'reinstall-requested' }), [told('cause', 1_000), told('registered → reinstall-requested', 1_000)]);
      t.match(stored, [{ message: 'cause', machine: 'm1', at: 1_000, instance }, { message: 'registered → reinstall-requested' }], 'the events as stored, in order');
      t.ok(stored[0].id > before && stored[1].id > stored[0].id, 'with ids after every earlier event, in their order');
      t.same(await store.events.list({ afterId: before }), stored, 'and listed as returned');
      t.match(await store.status.get('m1'), { version: 2, state: 'reinstall-requested' });

      await conflict(t, store.status.put(status('m1', 2, { state: 'failed' }), [told('stale', 2_000)]), 'version', 'a stale version with events');
      await conflict(t, store.status.put(status('m1', 1, { state: 'failed' }), [told('create over a row', 2_000)]), 'version', 'version 1 over a row, with events');
      t.same(await store.events.list({ afterId: stored[1].id }), [], 'a refused put writes none of its events');
      t.match(await store.status.get('m1'), { version: 2, state: 'reinstall-requested' }, 'nor its status');

      await store.status.delete('m1');
      t.match(await store.status.put(status('m1', 1), [told('created', 3_000)]), [{ message: 'created' }], 'a new row (version 1) with events');

      await store
        .transaction(async (tx) => {
          await tx.status.put(status('m1', 2, { state: 'failed' }), [told('rolled back', 4_000)]);
          throw new Error('no');
        })
        .catch(() => undefined);
      t.match(await store.status.get('m1'), { version: 1 }, 'in a transaction that fails: the status is not written');
      t.same((await store.events.list({ machine: 'm1' })).map((e) => e.message), ['cause', 'registered → reinstall-requested', 'created'], 'nor its events');
    });

    t.test('events: append, appendMany, list by machine and after an id', async (t) => {
      const store = await open(t);
      t.same(await store.events.list({}), []);
      const data = { n: 1, nested: { list: [1, 'two', true, null], empty: {} }, text: 'ünïcødé "quoted"\n' };
      const e1 = await store.events.append(event('one', { mac: A, ip: '10.0.0.5' }), 1_000);
      t.match(e1, { kind: 'dhcp', level: 'info', message: 'one', mac: A, ip: '10.0.0.5', at: 1_000 }, 'append returns the event with its time');
      t.type(e1.id, 'number');

      const burst = [
        { event: event('two', { machine: 'm1', kind: 'kickstart', data }), at: 2_000 },
        { event: event('three', { machine: 'm2', kind: 'asset', level: 'warn' }), at: 1_500 },
        { event: event('four', { machine: 'm1', kind: 'callback', level: 'error' }), at: 3_000 },
      ];
      const many = await store.events.appendMany(burst);
      t.same(
        many.map((e) => [e.message, e.at]),
        [['two', 2_000], ['three', 1_500], ['four', 3_000]],
        'appendMany returns one stored event per event, in order, with its time',
      );
      t.same(many[0].data, data, 'with its data');
      const ids = [e1.id, ...many.map((e) => e.id)];
      t.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]), `ids strictly increase across calls and within a burst: ${ids}`);
      t.same(await store.events.appendMany([]), [], 'an empty burst stores nothing');

      const before = Date.now();
      const e5 = await store.events.append(event('five', { machine: 'm2' }));
      const after = Date.now();
      t.ok(e5.id > many[2].id, 'a later append gets a larger id');
      t.ok(e5.at >= before && e5.at <= after, 'without a time, append stamps now');

      const all = await store.events.list({});
      t.same(all, [e1, ...many, e5], 'list returns every event as stored, by id (not by time)');
      t.same(all[1].data, data, 'data round-trips through list');
      t.same(
        (await store.events.list({ machine: 'm1' })).map((e) => e.message),
        ['two', 'four'],
        'machine filter',
      );
      t.same(await store.events.list({ machine: 'nobody' }), [], 'a machine with no events');
      t.same(
        (await store.events.list({ afterId: many[0].id })).map((e) => e.message),
        ['three', 'four', 'five'],
        'afterId: the events after that id, not including it',
      );
      t.same(
        (await store.events.list({ afterId: e1.id, limit: 2 })).map((e) => e.message),
        ['two', 'three'],
        'limit: the first ones after the id',
      );
      t.same(
        (await store.events.list({ machine: 'm2', afterId: many[1].id })).map((e) => e.message),
        ['five'],
        'machine and afterId together',
      );
      t.same(await store.events.list({ afterId: e5.id }), [], 'nothing after the last id');
      t.same(
        [e1, ...many, e5].map((e) => e.instance),
        Array(5).fill(instance),
        'append and appendMany return each event with the instance that wrote it',
      );
      t.same(
        all.map((e) => e.instance),
        Array(5).fill(instance),
        'list returns it with each event',
      );
    });

    t.test('events: an instance name is what the store was opened with, not what the event claims', async (t) => {
      const store = await open(t);
      const claimed = { ...event('claims another', { machine: 'm1' }), instance: 'someone-else' } as BootEvent;
      const e = await store.events.append(claimed, 1);
      const [b] = await store.events.appendMany([{ event: claimed, at: 2 }]);
      t.same([e.instance, b.instance], [instance, instance], 'the stored events carry the store\'s instance');
      t.same(
        (await store.events.list({ machine: 'm1' })).map((x) => x.instance),
        [instance, instance],
        'and so do they read back',
      );
    });

    t.test('events: paging through 2,500 events 1,000 at a time gets each once, in order', async (t) => {
      const store = await open(t);
      const total = 2_500;
      const written: StoredEvent[] = [];
      for (let i = 0; i < total; i += 700) {
        const batch = Array.from({ length: Math.min(700, total - i) }, (_, j) => ({
          event: event(`e${i + j}`, { machine: (i + j) % 5 === 0 ? 'm2' : 'm1', data: { i: i + j } }),
          at: i + j,
        }));
        written.push(...(await store.events.appendMany(batch)));
      }
      const page = async (machine?: string) => {
        const seen: StoredEvent[] = [];
        const sizes: number[] = [];
        let afterId = 0;
        while (sizes.length < 10) {
          const got = await store.events.list({ ...(machine ? { machine } : {}), afterId, limit: 1_000 });
          sizes.push(got.length);
          if (!got.length) break;
          seen.push(...got);
          afterId = got[got.length - 1].id;
        }
        return { seen, sizes };
      };
      const all = await page();
      t.same(all.sizes, [1_000, 1_000, 500, 0], 'pages of 1,000, then the rest, then none');
      sameSequence(t, all.seen, written, 'every event once, in the order written, as appendMany returned it');
      const m1 = await page('m1');
      t.same(m1.sizes, [1_000, 1_000, 0], 'the 2,000 of m1');
      sameSequence(t, m1.seen, written.filter((e) => e.machine === 'm1'), "each of m1's once, in order");
    });

    t.test('tokens: put, get, current, deleteForMachine', async (t) => {
      const store = await open(t);
      t.equal(await store.tokens.get('unknown'), undefined, 'an unknown token finds nothing');
      t.equal(await store.tokens.current('m1'), undefined, 'a machine without tokens has no current one');

      const t1 = token('tk-1', 'm1', 'i1', 1_000);
      const t2 = token('tk-2', 'm1', 'i2', 2_000);
      const other = token('tk-other', 'm2', 'j1', 9_000);
      await store.tokens.put(t1);
      t.same(await store.tokens.get('tk-1'), t1, 'round-trips');
      t.same(await store.tokens.current('m1'), t1);
      await store.tokens.put(t2);
      await store.tokens.put(other);
      t.same(await store.tokens.current('m1'), t2, "current: the machine's newest token, not another machine's");
      t.same(await store.tokens.current('m2'), other);
      t.same(await store.tokens.get('tk-1'), t1, 'an older token is still there');
      t.equal(await store.tokens.get('tk-'), undefined, 'no prefix match');

      t.same(await store.tokens.get('tk-2'), t2);
      const t2later = { ...t2, expiresAt: 3_000 };
      await store.tokens.put(t2later);
      t.same(await store.tokens.get('tk-2'), t2later, 'a token written again is read again (get after a get)');

      await store.tokens.deleteForMachine('m1');
      t.equal(await store.tokens.get('tk-1'), undefined, 'deleteForMachine takes every token of the machine');
      t.equal(await store.tokens.get('tk-2'), undefined);
      t.equal(await store.tokens.current('m1'), undefined);
      t.same(await store.tokens.get('tk-other'), other, "and leaves another machine's");
      t.same(await store.tokens.current('m2'), other);
      await store.tokens.deleteForMachine('nobody');
      await store.tokens.put(t1);
      t.same(await store.tokens.get('tk-1'), t1, 'a deleted token can be written again');
    });

    t.test('tokens: revokeForMachine marks the live tokens revoked, keeps them readable, leaves others', async (t) => {
      const store = await open(t);
      const t1 = token('tk-1', 'm1', 'i1', 1_000);
      const t2 = token('tk-2', 'm1', 'i2', 2_000);
      const other = token('tk-other', 'm2', 'j1', 9_000);
      for (const x of [t1, t2, other]) await store.tokens.put(x);
      t.same(await store.tokens.get('tk-1'), t1, 'read (and cached) before the revocation');
      await store.tokens.revokeForMachine('m1', 5_000);
      t.same(await store.tokens.get('tk-1'), { ...t1, revokedAt: 5_000 }, 'revoked at the time given, still found');
      t.same(await store.tokens.current('m1'), { ...t2, revokedAt: 5_000 });
      t.same(await store.tokens.get('tk-other'), other, "another machine's stays live");
      await store.tokens.revokeForMachine('m1', 7_000);
      t.equal((await store.tokens.get('tk-2'))!.revokedAt, 5_000, 'a revoked token keeps its first revocation time');
      const t3 = token('tk-3', 'm1', 'i3', 3_000);
      await store.tokens.put(t3);
      t.same(await store.tokens.current('m1'), t3, 'a new install gets a live token');
      const t4 = token('tk-4', 'm1', 'i4', 3_000);
      await store.tokens.put(t4);
      t.same(await store.tokens.current('m1'), t4, 'current is the one written last, even with the same expiry');
      t.same(await store.tokens.get('tk-3'), t3);
      await store.tokens.put({ ...t3, revokedAt: 8_000 });
      t.equal((await store.tokens.get('tk-3'))!.revokedAt, 8_000, 'put writes revokedAt too');
    });

    t.test('events: tail is the newest of a machine since a time, oldest first; prune takes the oldest', async (t) => {
      const store = await open(t);
      const written = await store.events.appendMany(
        Array.from({ length: 30 }, (_, i) => ({ event: event(`e${i}`, { machine: i % 3 === 0 ? 'm2' : 'm1' }), at: 1_000 + i * 10 })),
      );
      const m1 = written.filter((e) => e.machine === 'm1');
      sameSequence(t, await store.events.tail({ machine: 'm1', since: 0, limit: 5 }), m1.slice(-5), 'the last five, in order');
      sameSequence(t, await store.events.tail({ machine: 'm1', since: 1_200, limit: 100 }), m1.filter((e) => e.at >= 1_200), 'since bounds it from below');
      t.same(await store.events.tail({ machine: 'm1', since: 10_000, limit: 5 }), []);
      t.same(await store.events.tail({ machine: 'nobody', since: 0, limit: 5 }), []);
      t.ok(
        (await store.events.tail({ machine: 'm1', since: 0, limit: 100 })).every((e) => e.instance === instance),
        'tail returns each event with the instance that wrote it',
      );
      t.equal(await store.events.prune(1_100, 4), 4, 'at most limit at a time');
      t.equal(await store.events.prune(1_100, 100), 6, 'then the rest older than before');
      t.equal(await store.events.prune(1_100, 100), 0);
      sameSequence(t, await store.events.list({ limit: 100 }), written.filter((e) => e.at >= 1_100), 'the younger ones stay, ids unchanged');
    });

    t.test('check: a healthy store takes the health write', async (t) => {
      const store = await open(t);
      await store.check();
      await store.check();
      t.pass('resolved twice');
    });

    t.test('leases: put, putMany, byMac, byIp, list, delete; an address has one MAC', async (t) => {
      const store = await open(t);
      t.equal(await store.leases.byMac(A), undefined);
      t.equal(await store.leases.byIp('10.0.0.10'), undefined);
      t.same(await store.leases.list(), []);

      const la = lease(A, '10.0.0.10', { hostname: 'web-01', clientId: '01:52:54:00:00:00:0a', state: 'offered' });
      await store.leases.put(la);
      t.same(await store.leases.byMac(A), la, 'round-trips by MAC, every field');
      t.same(await store.leases.byIp('10.0.0.10'), la, 'and by address');

      const la2 = lease(A, '10.0.0.11');
      await store.leases.put(la2);
      t.same(await store.leases.byMac(A), la2, 'a MAC has one lease: the new one replaces it');
      t.equal(await store.leases.byIp('10.0.0.10'), undefined, 'its old address is free');

      const lb = lease(B, '10.0.0.12');
      const lc = lease(C, '10.0.1.5', { subnet: '10.0.1.0/24' });
      await store.leases.putMany([lb, lc]);
      t.same(await store.leases.byMac(B), lb, 'putMany writes each');
      t.same(await store.leases.byIp('10.0.1.5'), lc);
      t.same(byMac(await store.leases.list()), [la2, lb, lc], 'list without a subnet: all');
      t.same(byMac(await store.leases.list('10.0.0.0/24')), [la2, lb], 'list of a subnet');
      t.same(await store.leases.list('10.0.1.0/24'), [lc]);
      t.same(await store.leases.list('192.168.0.0/24'), [], 'a subnet without leases');

      // A's lease of 10.0.0.11 runs until 9,000: nobody else gets the address before.
      const early = lease(B, '10.0.0.11', { updatedAt: 2_000 });
      await t.rejects(store.leases.put(early), { name: 'Error', field: 'ip', message: /10\.0\.0\.11 is held by 52:54:00:00:00:0a/ }, 'put: a live lease of another MAC refuses the address');
      t.same(await store.leases.putMany([early, lease(D, '10.0.0.30')]), [la2], 'putMany: the holder comes back for the refused lease');
      t.same(await store.leases.byIp('10.0.0.11'), la2, 'and it keeps its address');
      t.same(await store.leases.byMac(B), lb, "B's own lease is untouched");
      t.equal((await store.leases.byMac(D))?.ip, '10.0.0.30', 'the rest of the burst is written');

      const lb2 = lease(B, '10.0.0.11', { updatedAt: 9_000 });
      t.same(await store.leases.putMany([lb2]), [], 'an expired lease gives its address up');
      t.same(await store.leases.byIp('10.0.0.11'), lb2, "an address put for B is B's");
      t.equal(await store.leases.byMac(A), undefined, "A's row for that address is gone");

      await store.leases.putMany([lease(D, '10.0.0.20', { state: 'released' })]);
      await store.leases.put(lease(E, '10.0.0.20', { state: 'declined' }));
      t.equal((await store.leases.byIp('10.0.0.20'))?.mac, E, 'a released address is free at once');
      t.equal(await store.leases.byMac(D), undefined);
      await store.leases.put(lease(A, '10.0.0.11', { reserved: true }));
      t.same(await store.leases.byIp('10.0.0.11'), lease(A, '10.0.0.11'), "a reservation takes the address from a live lease (the flag is not stored)");
      t.equal(await store.leases.byMac(B), undefined, "B's row is gone");
      t.same(byMac(await store.leases.list('10.0.0.0/24')).map((l) => [l.mac, l.ip]), [[A, '10.0.0.11'], [E, '10.0.0.20']], 'one row per address');

      await store.leases.delete(C);
      t.equal(await store.leases.byMac(C), undefined, 'delete by MAC');
      t.equal(await store.leases.byIp('10.0.1.5'), undefined);
      t.same(await store.leases.list('10.0.1.0/24'), []);
      await store.leases.delete(C);
      t.same(byMac(await store.leases.list()).map((l) => l.mac), [A, E], 'deleting an absent lease changes nothing');
    });

    t.test('transaction: the writes of a resolved fn are all there after', async (t) => {
      const store = await open(t);
      await store.profiles.put(profile('p1'));
      const m1 = machine('m1', [A]);
      const result = await store.transaction(async (tx) => {
        await tx.machines.put(m1);
        await tx.profiles.put(profile('p2'));
        await tx.status.put(status('m1', 1));
        await tx.status.put(status('m1', 2, { state: 'reinstall-requested', netboot: 'install', installId: 'i1' }));
        await tx.tokens.put(token('tk', 'm1', 'i1', 5_000));
        await tx.leases.put(lease(A, '10.0.0.10'));
        const stored = await tx.events.append(event('in tx', { machine: 'm1' }), 7);
        await tx.events.appendMany([{ event: event('burst in tx', { machine: 'm1' }), at: 8 }]);
        return { stored };
      });
      t.match(result.stored, { message: 'in tx', at: 7 }, "the transaction resolves with fn's result");
      t.same(await store.machines.get('m1'), m1);
      t.equal((await store.machines.byMac(A))?.name, 'm1');
      t.ok(await store.profiles.get('p2'));
      t.match(await store.status.get('m1'), { version: 2, state: 'reinstall-requested', installId: 'i1' });
      t.same(await store.tokens.current('m1'), token('tk', 'm1', 'i1', 5_000));
      t.same(await store.leases.byMac(A), lease(A, '10.0.0.10'));
      t.same((await store.events.list({ machine: 'm1' })).map((e) => e.message), ['in tx', 'burst in tx']);
      t.same((await store.events.list({})).map((e) => e.id)[0], result.stored.id, 'under the id it returned');
      t.equal(result.stored.instance, instance, 'an event appended in a transaction carries the instance');
      t.same(
        (await store.events.list({ machine: 'm1' })).map((e) => e.instance),
        [instance, instance],
        'and both read back with it',
      );
    });

    t.test('transaction: a fn that throws leaves none of its writes, and its error is rethrown', async (t) => {
      const store = await open(t);
      const p1 = profile('p1');
      const m1 = machine('m1', [A]);
      const s1 = status('m1', 1);
      const t1 = token('tk-1', 'm1', 'i1', 1_000);
      const l1 = lease(A, '10.0.0.10');
      await store.profiles.put(p1);
      await store.machines.put(m1);
      await store.status.put(s1);
      await store.tokens.put(t1);
      await store.leases.put(l1);
      const e0 = await store.events.append(event('before', { machine: 'm1' }), 1);
      // Read everything once before: a store that remembers rows now has them.
      const snapshot = async () => ({
        machine: await store.machines.get('m1'),
        machine2: await store.machines.get('m2'),
        byMacA: await store.machines.byMac(A),
        byMacB: await store.machines.byMac(B),
        machines: names(await store.machines.list()),
        profile: await store.profiles.get('p1'),
        profile9: await store.profiles.get('p9'),
        profiles: names(await store.profiles.list()),
        status: await store.status.get('m1'),
        status2: await store.status.get('m2'),
        statuses: (await store.status.list()).map((s) => s.machine),
        token1: await store.tokens.get('tk-1'),
        token2: await store.tokens.get('tk-2'),
        current: await store.tokens.current('m1'),
        leaseA: await store.leases.byMac(A),
        leaseB: await store.leases.byMac(B),
        leaseIp: await store.leases.byIp('10.0.0.10'),
        leases: await store.leases.list(),
        events: await store.events.list({}),
      });
      const before = await snapshot();
      t.same(before, {
        machine: m1,
        machine2: undefined,
        byMacA: m1,
        byMacB: undefined,
        machines: ['m1'],
        profile: p1,
        profile9: undefined,
        profiles: ['p1'],
        status: s1,
        status2: undefined,
        statuses: ['m1'],
        token1: t1,
        token2: undefined,
        current: t1,
        leaseA: l1,
        leaseB: undefined,
        leaseIp: l1,
        leases: [l1],
        events: [e0],
      });

      const boom = new Error('boom');
      const p1b = profile('p1', { packages: ['vim'] });
      const m1b = machine('m1', [B], 'p1', { params: { rack: 'z9' } });
      const t2 = token('tk-2', 'm1', 'i2', 2_000);
      let during: Awaited<ReturnType<typeof snapshot>> | undefined;
      let seen: Record<string, unknown> = {};
      const err = await rejection(
        t,
        store.transaction(async (tx) => {
          await tx.status.put(status('m1', 2, { state: 'reinstall-requested', netboot: 'install', installId: 'i2' }));
          await tx.tokens.deleteForMachine('m1');
          await tx.tokens.put(t2);
          await tx.events.append(event('inside', { machine: 'm1' }), 2);
          await tx.events.appendMany([{ event: event('inside burst', { machine: 'm1' }), at: 3 }]);
          await tx.machines.put(m1b);
          await tx.machines.put(machine('m2', [A]));
          await tx.status.put(status('m2', 1));
          await tx.profiles.put(p1b);
          await tx.profiles.put(profile('p9'));
          await tx.leases.put(lease(B, '10.0.0.10', { updatedAt: 9_000 }));
          // Reads through tx see its own writes.
          seen = {
            status: await tx.status.get('m1'),
            status2: await tx.status.get('m2'),
            token1: await tx.tokens.get('tk-1'),
            token2: await tx.tokens.get('tk-2'),
            current: await tx.tokens.current('m1'),
            machine: await tx.machines.get('m1'),
            byMacA: (await tx.machines.byMac(A))?.name,
            byMacB: (await tx.machines.byMac(B))?.name,
            machines: names(await tx.machines.list()),
            profile: await tx.profiles.get('p1'),
            profiles: names(await tx.profiles.list()),
            leaseIp: (await tx.leases.byIp('10.0.0.10'))?.mac,
            leaseA: await tx.leases.byMac(A),
            events: (await tx.events.list({ machine: 'm1' })).map((e) => e.message),
          };
          // Read through the store too while the transaction is open (whatever it answers):
          // a store that remembers rows must not keep what it read here once it rolls back.
          during = await snapshot();
          throw boom;
        }),
        'a throwing fn',
      );
      t.equal(err, boom, 'the transaction rejects with the error fn threw, as is');
      t.ok(during, 'fn ran to its throw');
      t.match(
        seen,
        {
          status: { version: 2, state: 'reinstall-requested', installId: 'i2' },
          status2: { version: 1 },
          token2: t2,
          current: t2,
          machine: m1b,
          byMacA: 'm2',
          byMacB: 'm1',
          machines: ['m1', 'm2'],
          profile: p1b,
          profiles: ['p1', 'p9'],
          leaseIp: B,
          events: ['before', 'inside', 'inside burst'],
        },
        'reads through tx saw its own writes',
      );
      t.equal(seen.token1, undefined, 'including its delete');
      t.equal(seen.leaseA, undefined, 'and the lease its put displaced');

      const after = await snapshot();
      t.same(after, before, 'after the rollback every read answers as before the transaction');
      t.same(await snapshot(), before, 'and again (nothing remembered from inside the transaction)');

      await store.status.put(status('m1', 2));
      t.equal((await store.status.get('m1'))?.version, 2, "the status version is the committed one's: version 2 is next");
      const next = await store.events.append(event('after', { machine: 'm1' }), 4);
      t.ok(next.id > e0.id, 'event ids go on increasing');
      t.same((await store.events.list({ machine: 'm1' })).map((e) => e.message), ['before', 'after']);
    });

    t.test("transaction: a store error inside fn (a ConflictError) rolls back fn's earlier writes", async (t) => {
      const store = await open(t);
      await store.profiles.put(profile('p1'));
      await store.machines.put(machine('m1', [A]));
      await store.machines.put(machine('m2', [B]));
      await store.status.put(status('m1', 1));
      t.same(await store.status.get('m1'), status('m1', 1));
      const err = await rejection(
        t,
        store.transaction(async (tx) => {
          await tx.status.put(status('m1', 2, { state: 'failed' }));
          await tx.tokens.put(token('tk', 'm1', 'i1', 1));
          await tx.machines.put(machine('m1', [A, B]));
        }),
        'a transaction whose machine put conflicts',
      );
      t.ok(err instanceof ConflictError && err.field === 'macs', 'rejects with the ConflictError of the failed write');
      t.same(await store.status.get('m1'), status('m1', 1), 'the status written before the conflict is rolled back');
      t.equal(await store.tokens.get('tk'), undefined, 'and the token');
      t.same((await store.machines.get('m1'))?.macs, [A]);

      const caught = await store.transaction(async (tx) => {
        await tx.status.put(status('m1', 2, { state: 'ready' }));
        const refused = await tx.status.put(status('m1', 2)).then(
          () => 'accepted',
          (e) => (e instanceof ConflictError ? 'refused' : `${e}`),
        );
        await tx.tokens.put(token('tk', 'm1', 'i1', 1));
        return refused;
      });
      t.equal(caught, 'refused', 'a conflict fn catches does not end the transaction');
      t.match(await store.status.get('m1'), { version: 2, state: 'ready' }, 'the writes around it commit');
      t.ok(await store.tokens.get('tk'));
    });

    t.test('transaction: a write from outside, while one is open', async (t) => {
      const store = await open(t);
      await store.profiles.put(profile('p1'));
      await store.machines.put(machine('m1', [A]));
      await store.status.put(status('m1', 1));

      const open1 = gate();
      const go = gate();
      const tx = store.transaction(async (tx) => {
        const first = await tx.events.append(event('tx first'), 1);
        await tx.status.put(status('m1', 2, { reason: 'tx' }));
        open1.open();
        await go.wait;
        const last = await tx.events.append(event('tx last'), 3);
        return { first, last };
      });
      await open1.wait;
      const landed = new Set<string>();
      const outsideEvent = store.events.append(event('outside'), 2).finally(() => landed.add('event'));
      // Serial: a writer may have read the transaction's status (one connection), and writes on top
      // of it once it commits. Concurrent: nobody outside reads what is not committed.
      const outsideStatus =
        transactions === 'serial' ? store.status.put(status('m1', 3, { reason: 'outside' })).finally(() => landed.add('status')) : undefined;
      const outsideOver = store.status.put(status('m1', 2, { reason: 'over' })).finally(() => landed.add('over'));
      const refusal = rejection(t, outsideOver, "a status write over the transaction's, from the version before");
      const outsideMachine = store.machines.put(machine('m2', [B])).finally(() => landed.add('machine'));
      await sleep(60);
      t.notOk(landed.has('over') || landed.has('status'), "a status write of the transaction's row has not landed 60 ms later");
      t.notOk(landed.has('event'), 'nor an event (ids become visible in order: never one before an id that commits later)');
      if (transactions === 'serial') t.same([...landed], [], 'a write to other rows waits too: one connection');
      else t.same([...landed], ['machine'], 'a write to other rows lands meanwhile');
      go.open();
      const { first, last } = await tx;
      const outside = await outsideEvent;
      await outsideStatus;
      await outsideMachine;
      await refusal;
      t.ok(outside.id > last.id, `the outside event (id ${outside.id}) comes after the transaction's last (id ${last.id})`);
      t.same((await store.events.list({})).map((e) => e.message), ['tx first', 'tx last', 'outside']);
      t.ok(first.id < last.id);
      if (outsideStatus) t.match(await store.status.get('m1'), { version: 3, reason: 'outside' }, "the outside status write went on top of the transaction's");
      else t.match(await store.status.get('m1'), { version: 2, reason: 'tx' }, "the transaction's status stands");
      const over = await refusal;
      t.ok(over instanceof ConflictError && over.field === 'version', `one that would have overwritten it waited, and was refused by its version: ${over}`);
    });

    t.test('transaction: a write from outside is not rolled back with a failing transaction', async (t) => {
      const store = await open(t);
      await store.profiles.put(profile('p1'));
      await store.machines.put(machine('m1', [A]));
      await store.status.put(status('m1', 1));
      const boom = new Error('boom');
      const open1 = gate();
      const go = gate();
      const tx = store.transaction(async (tx) => {
        await tx.status.put(status('m1', 2, { reason: 'tx' }));
        await tx.events.append(event('tx'), 1);
        open1.open();
        await go.wait;
        throw boom;
      });
      const txFailed = rejection(t, tx, 'the failing transaction');
      await open1.wait;
      const landed = new Set<string>();
      // Version 2: accepted only over the committed version 1, refused if it ran inside the transaction.
      const outsideStatus = store.status.put(status('m1', 2, { reason: 'outside' })).finally(() => landed.add('status'));
      const outsideMachine = store.machines.put(machine('m2', [B])).finally(() => landed.add('machine'));
      const outsideEvent = store.events.append(event('outside'), 2).finally(() => landed.add('event'));
      await sleep(60);
      t.same([...landed], transactions === 'serial' ? [] : ['machine'], 'the outside writes of its rows wait while the transaction is open');
      go.open();
      t.equal(await txFailed, boom);
      await outsideStatus;
      await outsideMachine;
      await outsideEvent;
      t.match(await store.status.get('m1'), { version: 2, reason: 'outside' }, 'the outside status write is kept');
      t.equal((await store.machines.byMac(B))?.name, 'm2', 'so is the outside machine');
      t.same((await store.events.list({})).map((e) => e.message), ['outside'], "so is the outside event, and not the transaction's");

      const after = await store.transaction(async (tx) => {
        await tx.status.put(status('m1', 3));
        return 'ran';
      });
      t.equal(after, 'ran', 'a failed transaction does not block the next one');
      t.equal((await store.status.get('m1'))?.version, 3);
    });

    /** A transaction that reads m's status, waits, writes an event and the next version; its log. */
    const bumper = (store: Store, log: string[], opts?: TransactionOptions) => (name: string, m = 'm1') =>
      store.transaction(async (tx) => {
        log.push(`${name} begins`);
        const s = (await tx.status.get(m))!;
        await sleep(30);
        await tx.events.append(event(name, { machine: m }), s.version);
        await sleep(10);
        await tx.status.put({ ...s, version: s.version + 1, reason: name });
        log.push(`${name} ends`);
        return s.version + 1;
      }, opts);
    const oneThenOther = (log: string[]) => ['a begins, a ends, b begins, b ends', 'b begins, b ends, a begins, a ends'].includes(log.join(', '));
    const sideBySide = (log: string[]) => log.slice(0, 2).every((l) => l.endsWith('begins'));

    t.test('transaction: two started together on one row', async (t) => {
      const store = await open(t);
      await store.profiles.put(profile('p1'));
      await store.machines.put(machine('m1', [A]));
      await store.status.put(status('m1', 1));
      const log: string[] = [];
      const bump = bumper(store, log);
      const outcomes = await Promise.allSettled([bump('a'), bump('b')]);
      if (transactions === 'serial') {
        t.ok(oneThenOther(log), `one ran after the other: ${log.join(', ')}`);
        t.same(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : o.reason)).sort(), [2, 3], 'the second read what the first committed');
        t.equal((await store.status.get('m1'))?.version, 3);
        t.equal((await store.events.list({})).length, 2, 'both committed');
        return;
      }
      t.ok(sideBySide(log), `they ran side by side: ${log.join(', ')}`);
      const refused = outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason);
      t.equal(refused.length, 1, 'one of them is refused');
      t.ok(refused[0] instanceof ConflictError && refused[0].field === 'version', `by the status version: ${refused[0]}`);
      const winner = log.find((l) => l.endsWith('ends'))![0];
      t.match(await store.status.get('m1'), { version: 2, reason: winner }, 'the other one committed');
      t.same((await store.events.list({})).map((e) => e.message), [winner], "and nothing of the refused one's is kept");
    });

    t.test('transaction: two on different rows', async (t) => {
      const store = await open(t);
      await store.profiles.put(profile('p1'));
      for (const [m, mac] of [['m1', A], ['m2', B]]) {
        await store.machines.put(machine(m, [mac]));
        await store.status.put(status(m, 1));
      }
      const log: string[] = [];
      const bump = bumper(store, log);
      t.same(await Promise.all([bump('a', 'm1'), bump('b', 'm2')]), [2, 2], 'both commit');
      if (transactions === 'serial') t.ok(oneThenOther(log), `one after the other (one connection): ${log.join(', ')}`);
      else t.ok(sideBySide(log), `side by side: ${log.join(', ')}`);
      const events = await store.events.list({});
      t.same(events.map((e) => e.message).sort(), ['a', 'b']);
      t.ok(events[0].id < events[1].id, 'listed by id');
    });

    t.test('transaction: two under one exclusive name run one after the other', async (t) => {
      const store = await open(t);
      await store.profiles.put(profile('p1'));
      await store.machines.put(machine('m1', [A]));
      await store.status.put(status('m1', 1));
      const log: string[] = [];
      await store.machines.put(machine('m2', [B]));
      await store.status.put(status('m2', 1));
      const bump = bumper(store, log, { exclusive: 'm1' });
      const [a, b] = await Promise.all([bump('a'), bump('b')]);
      t.ok(oneThenOther(log), `one ran after the other: ${log.join(', ')}`);
      t.same([a, b].sort(), [2, 3], 'the second read what the first committed');
      t.equal((await store.events.list({})).length, 2, 'both committed');
      const other = bumper(store, log, { exclusive: 'another' });
      log.length = 0;
      await Promise.all([bump('a'), other('b', 'm2')]);
      t.ok(transactions === 'serial' ? oneThenOther(log) : sideBySide(log), `another name does not wait for it: ${log.join(', ')}`);
    });
  });
}

/** Long sequences compared without a diff of thousands of objects (slow when they differ). */
function sameSequence(t: Test, got: StoredEvent[], want: StoredEvent[], message: string) {
  if (got.length !== want.length) return t.fail(`${message}: ${got.length} events, want ${want.length}`);
  const at = got.findIndex((e, i) => canonical(e) !== canonical(want[i]));
  if (at >= 0) return t.fail(`${message}: at ${at} got ${canonical(got[at])}, want ${canonical(want[at])}`);
  return t.pass(message);
}

/** JSON with keys sorted at every level, undefined properties dropped. */
function canonical(v: unknown): string {
  const sorted = (x: unknown): unknown =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, sorted((x as Record<string, unknown>)[k])]))
      : Array.isArray(x)
        ? x.map(sorted)
        : x;
  return JSON.stringify(sorted(v));
}

/** A promise the test opens by hand. */
function gate() {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

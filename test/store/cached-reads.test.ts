import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import type { Machine } from '../../server/model/machine.js';
import type { Profile } from '../../server/model/profile.js';
import type { MachineStatus } from '../../server/model/status.js';
import { tempStore } from './temp-store.js';

/**
 * The SQLite store answers token, status, machine and profile reads from memory after the
 * first read. Each test reads a row (so it is remembered), changes it through the store, and
 * reads again: a remembered row that a write did not drop fails here.
 */

const open = (t: Test) => tempStore(t);

const machine = (name: string, macs: string[], profile = 'p1') => ({ name, profile, macs, bmc: { driver: 'manual' } }) as unknown as Machine;
const status = (machine: string, version: number, patch: Partial<MachineStatus> = {}): MachineStatus => ({
  machine,
  state: 'registered',
  netboot: 'local',
  stateSince: version,
  hostKeys: [],
  version,
  ...patch,
});
const token = (value: string, machine: string, installId = 'i1') => ({ token: value, machine, installId, expiresAt: 1000 });

t.test('status: every put is seen by the next get; a refused put leaves the stored row', async (t) => {
  const { store } = await open(t);
  await store.machines.put(machine('m1', ['52:54:00:00:00:01']));
  t.equal(await store.status.get('m1'), undefined);
  await store.status.put(status('m1', 1));
  t.equal((await store.status.get('m1'))!.version, 1);
  await store.status.put(status('m1', 2, { state: 'reinstall-requested', netboot: 'install', installId: 'i1' }));
  t.match(await store.status.get('m1'), { version: 2, state: 'reinstall-requested', netboot: 'install', installId: 'i1' });
  await t.rejects(store.status.put(status('m1', 2, { state: 'failed' })), { message: /changed concurrently/ }, 'a stale version is refused');
  t.match(await store.status.get('m1'), { version: 2, state: 'reinstall-requested' }, 'and not remembered');
  const a = await store.status.get('m1');
  t.equal(await store.status.get('m1'), a, 'an unchanged row is the same object (the render memo keys on it)');
  t.ok(Object.isFrozen(a), 'shared, hence frozen');
});

t.test('tokens: a reinstall (delete + put) and a cancel (delete) are seen at once', async (t) => {
  const { store } = await open(t);
  await store.machines.put(machine('m1', ['52:54:00:00:00:01']));
  await store.machines.put(machine('m2', ['52:54:00:00:00:02']));
  await store.tokens.put(token('old', 'm1', 'i1'));
  await store.tokens.put(token('other', 'm2', 'j1'));
  t.match(await store.tokens.get('old'), { machine: 'm1', installId: 'i1' });
  t.match(await store.tokens.get('other'), { machine: 'm2' });
  t.ok(Object.isFrozen(await store.tokens.get('old')));

  await store.tokens.deleteForMachine('m1');
  await store.tokens.put(token('new', 'm1', 'i2'));
  t.equal(await store.tokens.get('old'), undefined, 'the old token is gone');
  t.match(await store.tokens.get('new'), { installId: 'i2' });
  t.match(await store.tokens.get('other'), { machine: 'm2' }, 'another machine keeps its token');

  await store.tokens.put({ ...token('new', 'm1', 'i2'), expiresAt: 5000 });
  t.equal((await store.tokens.get('new'))!.expiresAt, 5000, 'a token written again is read again');
  await store.tokens.deleteForMachine('m1');
  t.equal(await store.tokens.get('new'), undefined, 'cancelled');
  t.equal(await store.tokens.get('never-issued'), undefined);
  await store.tokens.put(token('never-issued', 'm2'));
  t.match(await store.tokens.get('never-issued'), { machine: 'm2' }, 'an unknown token is not remembered as unknown');
});

t.test('deleting a machine forgets it; its status and tokens stay until their own deletes, which forget them too', async (t) => {
  const { store } = await open(t);
  await store.machines.put(machine('m1', ['52:54:00:00:00:01']));
  await store.status.put(status('m1', 1, { netboot: 'install', installId: 'i1' }));
  await store.tokens.put(token('tk', 'm1'));
  t.ok(await store.machines.get('m1'));
  t.ok(await store.status.get('m1'));
  t.ok(await store.tokens.get('tk'));
  t.equal(await store.machines.delete('m1'), true);
  t.equal(await store.machines.get('m1'), undefined);
  t.match(await store.status.get('m1'), { installId: 'i1' }, "the status is the lifecycle's to delete");
  t.match(await store.tokens.get('tk'), { machine: 'm1' }, 'so are the tokens');
  t.equal(await store.status.delete('m1'), true);
  await store.tokens.deleteForMachine('m1');
  t.equal(await store.status.get('m1'), undefined);
  t.equal(await store.tokens.get('tk'), undefined);
  await store.machines.put(machine('m1', ['52:54:00:00:00:01']));
  t.equal(await store.status.get('m1'), undefined, 'a machine re-created under the same name starts without status');
  t.equal(await store.tokens.get('tk'), undefined, 'or tokens');
});

t.test('machines and profiles: edits are seen; a refused machine put leaves the stored one', async (t) => {
  const { store } = await open(t);
  await store.profiles.put({ name: 'p2', os: 'rocky-9', firmware: 'uefi' } as Profile);
  await store.machines.put(machine('m1', ['52:54:00:00:00:01']));
  await store.machines.put(machine('m2', ['52:54:00:00:00:02']));
  const before = await store.machines.get('m1');
  t.equal(before!.profile, 'p1');
  await store.machines.put(machine('m1', ['52:54:00:00:00:01'], 'p2'));
  const after = await store.machines.get('m1');
  t.equal(after!.profile, 'p2');
  t.not(after, before, 'a changed row is a new object');
  await t.rejects(store.machines.put(machine('m1', ['52:54:00:00:00:02'], 'p1')), { message: /already belongs to machine m2/ }, 'MAC of m2');
  t.equal((await store.machines.get('m1'))!.profile, 'p2', 'the refused write is not seen');

  t.equal((await store.profiles.get('p2'))!.firmware, 'uefi');
  await store.profiles.put({ name: 'p2', os: 'rocky-9', firmware: 'bios' } as Profile);
  t.equal((await store.profiles.get('p2'))!.firmware, 'bios');
  await t.rejects(store.profiles.delete('p2'), { message: /used by machine\(s\) m1/ }, 'in use by m1');
  t.ok(await store.profiles.get('p2'));
  await store.machines.put(machine('m1', ['52:54:00:00:00:01'], 'p1'));
  t.equal(await store.profiles.delete('p2'), true);
  t.equal(await store.profiles.get('p2'), undefined);
});

t.test('the file stays open to other readers (no exclusive locking)', async (t) => {
  const { store, file } = await open(t);
  await store.machines.put(machine('m1', ['52:54:00:00:00:01']));
  await store.machines.get('m1');
  const other = new Database(file, { readonly: true, timeout: 200 });
  t.teardown(() => other.close());
  t.same(other.prepare('SELECT name FROM machines').all(), [{ name: 'm1' }]);
});

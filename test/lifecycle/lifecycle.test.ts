/**
 * The lifecycle on its own: a store, the read service and the event log, a power driver and a
 * converger that record what they are asked. No HTTP, no sockets.
 */
import pino from 'pino';
import t, { type Test } from 'tap';
import { Config } from '../../server/config/schema.js';
import type { ConvergeRequest, ConvergeResult } from '../../server/lifecycle/converge-runner.js';
import { EventLog } from '../../server/lifecycle/event-log.js';
import { Installs } from '../../server/lifecycle/install.js';
import { Lifecycle } from '../../server/lifecycle/lifecycle.js';
import { Views } from '../../server/lifecycle/views.js';
import { LifecycleError } from '../../server/model/errors.js';
import { Machine } from '../../server/model/machine.js';
import { Profile } from '../../server/model/profile.js';
import { AddressBook } from '../../server/reads/address-book.js';
import { Reads } from '../../server/reads/reads.js';
import { openSqliteStore } from '../../server/store/sqlite.js';
import { minimalProfile } from '../helpers/fixtures.js';
import { slowStore } from '../store/fakes/slow-store.js';

const MAC = '52:54:00:11:22:33';
const HOSTKEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVbm9Z6m3uVZb6xO9w5q0rQ2m6Hq1sY3S9m1k8a0bXc';

async function rig(t: Test, opts: { converge?: (r: ConvergeRequest) => Promise<ConvergeResult>; powerFails?: boolean; dhcp?: boolean } = {}) {
  const store = await openSqliteStore(':memory:');
  const addresses = new AddressBook();
  const reads = new Reads(store, addresses);
  const clock = { t: 1_000_000, now() { return this.t; } };
  const logger = pino({ level: 'silent' });
  const events = new EventLog(store, reads, logger, clock);
  const power: string[] = [];
  const config = Config.parse({});
  const lifecycle = new Lifecycle({
    store,
    reads,
    events,
    config,
    logger,
    clock,
    power: (m) => ({
      bootOnceToPxe: async (fw) => void power.push(`${m.name} pxe ${fw}`),
      cycle: async () => {
        if (opts.powerFails) throw new Error('BMC said 401');
        power.push(`${m.name} cycle`);
      },
    }),
    converge: opts.converge,
  });
  const installs = new Installs(lifecycle, reads, events, opts.dhcp ?? false, clock);
  const views = new Views(reads, events);
  t.teardown(async () => {
    await lifecycle.idle();
    lifecycle.close();
    await store.close();
  });
  await store.profiles.put(Profile.parse(minimalProfile('p1', 'uefi')));
  await lifecycle.register('m1', (tx) => tx.machines.put(Machine.parse({ name: 'm1', profile: 'p1', macs: [MAC] })));
  const states = async () => (await reads.events({ machine: 'm1', limit: 1000 })).filter((e) => e.kind === 'state').map((e) => e.data!.to);
  return { store, reads, events, lifecycle, installs, views, power, clock, states, addresses };
}

t.test('registration writes the machine and its status together', async (t) => {
  const { reads } = await rig(t);
  t.match(await reads.record('m1'), { machine: { name: 'm1' }, profile: { name: 'p1' }, status: { state: 'registered', netboot: 'local', version: 1 } });
  t.equal((await reads.record('m1'))!.token, undefined, 'no token outside an install');
});

t.test('a reinstall walks the table from protocol events and callbacks to ready', async (t) => {
  const converged: ConvergeRequest[] = [];
  const { lifecycle, installs, events, views, power, states, reads } = await rig(t, {
    converge: async (r) => (converged.push(r), { ok: true }),
  });
  const s = await lifecycle.reinstall('m1');
  t.equal(s.state, 'reinstall-requested');
  await lifecycle.idle();
  t.same(power, ['m1 pxe uefi', 'm1 cycle'], 'PXE once in the profile firmware, then the power cycle');
  const token = (await installs.installToken('m1'))!;
  t.equal(token.installId, (await reads.status('m1'))!.installId, 'the token belongs to this install');

  events.report({ mac: MAC, kind: 'dhcp', level: 'info', message: 'DISCOVER' });
  events.report({ mac: MAC, kind: 'asset', level: 'info', message: 'vmlinuz' });
  await lifecycle.idle();
  t.equal((await reads.status('m1'))!.state, 'installer-booting', 'events attributed by MAC move the install');
  const check = await installs.checkToken(token.token, 'fetch', '10.0.0.5');
  t.ok(check.ok, 'the kickstart may be fetched');
  await installs.callback(token, 'start', '', {});
  await installs.callback(token, 'hostkeys', `${HOSTKEY} root@m1\n`, {});
  await installs.callback(token, 'built', '', {});
  await lifecycle.idle();
  t.same(await states(), ['reinstall-requested', 'power-cycling', 'pxe-booting', 'installer-booting', 'installing', 'installed', 'converging', 'ready']);
  t.same(converged.map((c) => [c.mode, c.hostKeys]), [['apply', [HOSTKEY]]], 'the converger got the pinned host key');
  t.equal((await views.progress('m1')).percent, 100);
  t.same(await installs.checkToken(token.token, 'fetch', '10.0.0.5'), { ok: false, status: 410, reason: 'the install of this token has ended' });
  t.equal((await views.byMac(MAC))!.netboot, 'local');
});

t.test('a callback that moves the install commits with its state change; one that moves nothing, or is refused, still leaves its event', async (t) => {
  const { store, lifecycle, installs, events, reads } = await rig(t);
  await lifecycle.reinstall('m1');
  await lifecycle.idle();
  events.report({ mac: MAC, kind: 'asset', level: 'info', message: 'vmlinuz' });
  await lifecycle.idle();
  const token = (await installs.installToken('m1'))!;
  t.ok((await installs.checkToken(token.token, 'fetch', '10.0.0.5')).ok);
  // What each callback commits: transactions, status puts with their events, and event writes of
  // their own (each outside a transaction).
  const commits: string[] = [];
  const { transaction } = store;
  store.transaction = (fn, opts) => (commits.push('transaction'), transaction(fn, opts));
  const put = store.status.put.bind(store.status);
  store.status.put = (s, events) => (commits.push(`status with ${events?.length ?? 0} events`), put(s, events));
  const append = store.events.append.bind(store.events);
  store.events.append = (e, at) => (commits.push(`event: ${e.message}`), append(e, at));
  const newest = async (n: number) => (await reads.events({ machine: 'm1', limit: 1000 })).slice(-n).map((e) => [e.kind, e.message]);
  const callback = async (event: 'start' | 'hostkeys' | 'progress' | 'built', body = '', query = {}) => {
    commits.length = 0;
    await installs.callback(token, event, body, query);
    return [...commits];
  };

  t.same(await callback('start'), ['status with 2 events'], 'start: one commit');
  t.same(await newest(2), [['callback', 'installer started'], ['state', 'installer-booting → installing']], 'the callback and the state it moved to, together');
  t.same(await callback('hostkeys', `${HOSTKEY} root@m1\n`), ['status with 1 events'], 'hostkeys: one commit');
  t.same(await newest(1), [['callback', 'host keys reported: ssh-ed25519']]);
  t.same(await callback('progress', '', { step: 'post' }), ['event: progress: post'], 'progress moves nothing: its event alone');
  t.same(await callback('built'), ['transaction'], 'built (its token revoked): one commit');
  t.same(await newest(2), [['callback', 'installer reported built'], ['state', 'install finished: netboot is now local']]);
  await lifecycle.idle();
  t.equal((await reads.status('m1'))?.state, 'ready');

  t.same(await callback('start'), ['event: installer started'], 'a start that moves nothing (the install is over): its event alone');
  t.same(await newest(1), [['callback', 'installer started']]);
  t.equal((await reads.status('m1'))?.state, 'ready');
  const refusedKeys = await installs.callback(token, 'hostkeys', `${HOSTKEY} root@m1\n`, {}).catch((e) => e);
  t.type(refusedKeys, LifecycleError);
  t.match((await newest(1))[0], ['callback', /^host keys refused: /], 'so is a refused host key report');
});

t.test('refusals are LifecycleErrors and change nothing', async (t) => {
  const { lifecycle, reads } = await rig(t);
  t.type(await lifecycle.cancel('m1').catch((e) => e), LifecycleError);
  await t.rejects(lifecycle.cancel('m1'), { code: 'invalid', message: /nothing to cancel/ });
  await lifecycle.reinstall('m1');
  const version = (await reads.status('m1'))!.version;
  await t.rejects(lifecycle.reinstall('m1'), { code: 'busy' });
  await t.rejects(lifecycle.reinstall('nope'), { code: 'not-found' });
  await t.rejects(lifecycle.remove('m1', (tx) => tx.machines.delete('m1')), /cancel the reinstall before deleting it/);
  await lifecycle.idle();
  t.ok((await reads.status('m1'))!.version >= version, 'the running install goes on');
  t.equal((await reads.machine('m1'))?.name, 'm1', 'still there');
});

t.test('a power failure fails the install with the driver reason; removal takes status and tokens', async (t) => {
  const { lifecycle, reads, store } = await rig(t, { powerFails: true });
  await lifecycle.reinstall('m1');
  await lifecycle.idle();
  t.match(await reads.status('m1'), { state: 'failed', phase: 'power-cycling', reason: /BMC said 401/ });
  t.ok(await lifecycle.remove('m1', (tx) => tx.machines.delete('m1')));
  t.equal(await reads.status('m1'), undefined);
  t.equal(await store.tokens.current('m1'), undefined);
});

t.test('deadlines fail only what ran out, once', async (t) => {
  const { lifecycle, reads, clock, states } = await rig(t);
  await lifecycle.reinstall('m1');
  await lifecycle.idle();
  clock.t += 299_000;
  await lifecycle.tick();
  t.equal((await reads.status('m1'))!.state, 'power-cycling');
  clock.t += 1_000;
  await Promise.all([lifecycle.tick(), lifecycle.tick()]);
  t.match(await reads.status('m1'), { state: 'failed', reason: 'deadline of 300 s for power-cycling passed' });
  t.equal((await states()).filter((s) => s === 'failed').length, 1, 'two ticks at once fail it once');
});

t.test('installer text reaches events without control characters (no escape sequences for terminals)', async (t) => {
  const { lifecycle, installs, reads } = await rig(t);
  await lifecycle.reinstall('m1');
  await lifecycle.idle();
  const token = (await installs.installToken('m1'))!;
  await installs.callback(token, 'progress', 'disk \u001b[2J\u001b]0;owned\u0007ready\r\n', { step: 'pkg\u001b[31m\u0085s' });
  await installs.callback(token, 'failed', 'line 1\n\u001b[1mline 2\u009b\tend\n', {});
  const cb = (await reads.events({ machine: 'm1', limit: 100 })).filter((e) => e.kind === 'callback');
  const [progress, failed] = cb;
  t.notMatch(progress.message, /[\u0000-\u001f\u007f-\u009f]/, progress.message);
  t.match(progress.message, /progress: pkg \[31m s — disk  \[2J ]0;owned ready/);
  t.equal(progress.data!.step, 'pkg [31m s');
  t.equal(failed.data!.log, 'line 1\n[1mline 2\tend\n', 'log tails keep their lines and tabs, nothing else');
});

t.test('DHCP on: the token goes only to the address of the MAC\'s latest DHCP exchange with kickstand', async (t) => {
  const { lifecycle, installs, reads, addresses } = await rig(t, { dhcp: true });
  await lifecycle.reinstall('m1');
  await lifecycle.idle();
  const record = (await reads.record('m1'))!;
  t.same(await installs.scriptToken(record, MAC, '10.0.0.5'), { withheld: 'no DHCP exchange with kickstand from this MAC yet' });
  addresses.seen('10.0.0.5', MAC);
  t.same(await installs.scriptToken(record, MAC, '10.0.0.5'), { withheld: 'no DHCP exchange with kickstand from this MAC yet' }, 'asking for a script proves nothing');
  addresses.learn('10.0.0.7', MAC);
  t.equal((await installs.scriptToken(record, MAC, '10.0.0.7')).token?.token, record.token!.token, 'the DHCP address gets it');
  t.same(await installs.scriptToken(record, MAC, '10.0.0.5'), { withheld: 'not the address this MAC took in DHCP' });
  addresses.learn('10.0.0.9', MAC);
  t.ok((await installs.scriptToken(record, MAC, '10.0.0.9')).token, 'a new lease moves it');
  t.notOk((await installs.scriptToken(record, MAC, '10.0.0.7')).token, 'and the old address loses it');
});

t.test('a missed deadline revokes the token: its late callbacks are gone', async (t) => {
  const { lifecycle, installs, reads, clock } = await rig(t);
  await lifecycle.reinstall('m1');
  await lifecycle.idle();
  const token = (await installs.installToken('m1'))!;
  clock.t += 300_000;
  await lifecycle.tick();
  t.equal((await reads.status('m1'))!.state, 'failed');
  t.same(await installs.checkToken(token.token, 'callback', '10.0.0.5'), { ok: false, status: 410, reason: 'the install of this token has ended' });
});

t.test('two lifecycles on one store (two instances): a status written between read and write is read again, not lost', async (t) => {
  const inner = await openSqliteStore(':memory:');
  t.teardown(() => inner.close());
  await inner.profiles.put(Profile.parse(minimalProfile('p1', 'uefi')));
  // Each "instance" reaches the store with a delay, so both read version 1 before either writes.
  const instance = () => {
    const store = slowStore(inner, 5);
    const reads = new Reads(store, new AddressBook());
    const logger = pino({ level: 'silent' });
    const events = new EventLog(store, reads, logger);
    const lifecycle = new Lifecycle({ store, reads, events, config: Config.parse({}), logger, power: () => ({ bootOnceToPxe: async () => {}, cycle: async () => {} }) });
    t.teardown(async () => {
      await lifecycle.idle();
      lifecycle.close();
    });
    return lifecycle;
  };
  const [a, b] = [instance(), instance()];
  await a.register('m1', (tx) => tx.machines.put(Machine.parse({ name: 'm1', profile: 'p1', macs: [MAC] })));
  const [first, second] = await Promise.all([a.reinstall('m1'), b.reinstall('m1', { force: true })]);
  t.ok(first && second, 'neither instance saw a version conflict');
  await Promise.all([a.idle(), b.idle()]);
  const s = (await inner.status.get('m1'))!;
  const states = (await inner.events.list({ machine: 'm1', limit: 100 })).filter((e) => e.kind === 'state').map((e) => `${e.data!.from}→${e.data!.to}`);
  t.ok(states.length >= 2, `both reinstalls happened, one after the other: ${states.join(', ')}`);
  // A decision's moves (a forced reinstall: failed, then reinstall-requested) commit together, their
  // events side by side with one time: one version each.
  const events = (await inner.events.list({ machine: 'm1', limit: 100 })).filter((e) => e.kind === 'state');
  const commits = events.filter((e, i) => i === 0 || e.at !== events[i - 1].at || e.id !== events[i - 1].id + 1).length;
  t.equal(s.version, 1 + commits, `one status version per committed decision (${commits}), none lost`);
});

t.test('two instances on one store: a deadline fails the machine once, a callback delivered to both converges once', async (t) => {
  const inner = await openSqliteStore(':memory:');
  t.teardown(() => inner.close());
  await inner.profiles.put(Profile.parse({ ...minimalProfile('p1', 'uefi'), converge: [{ name: 'motd', kind: 'file', path: '/etc/motd', content: 'hi\n' }] }));
  const clock = { t: 1_000_000, now() { return this.t; } };
  const power: string[] = [];
  const converged: string[] = [];
  // Each "instance" reaches the store with a delay, so both read the same version before either writes.
  const instance = (name: string) => {
    const store = slowStore(inner, 5);
    const reads = new Reads(store, new AddressBook());
    const logger = pino({ level: 'silent' });
    const events = new EventLog(store, reads, logger, clock);
    const lifecycle = new Lifecycle({
      store,
      reads,
      events,
      config: Config.parse({}),
      logger,
      clock,
      power: () => ({ bootOnceToPxe: async () => void power.push(`${name} pxe`), cycle: async () => void power.push(`${name} cycle`) }),
      converge: async (r) => (converged.push(`${name} ${r.machine.name}`), { ok: true }),
    });
    t.teardown(async () => {
      await lifecycle.idle();
      lifecycle.close();
    });
    return lifecycle;
  };
  const [a, b] = [instance('a'), instance('b')];
  const transitions = async (m: string) =>
    (await inner.events.list({ machine: m, limit: 100 })).filter((e) => e.kind === 'state').map((e) => `${e.data!.from}→${e.data!.to}`);

  await a.register('m1', (tx) => tx.machines.put(Machine.parse({ name: 'm1', profile: 'p1', macs: [MAC] })));
  await a.reinstall('m1');
  await Promise.all([a.idle(), b.idle()]);
  t.same(power, ['a pxe', 'a cycle'], 'the instance that took the reinstall powers the machine, once');
  clock.t += 300_000;
  await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
  t.same(await transitions('m1'), ['registered→reinstall-requested', 'reinstall-requested→power-cycling', 'power-cycling→failed'], 'both instances saw the deadline pass: one failure');

  await a.register('m2', (tx) => tx.machines.put(Machine.parse({ name: 'm2', profile: 'p1', macs: ['52:54:00:11:22:34'] })));
  await b.reinstall('m2');
  await Promise.all([a.idle(), b.idle()]);
  await a.step('m2', { kind: 'callback', event: 'start' });
  // The installer's `built`, retried after a failover, reaches both instances at once.
  await Promise.all([a.step('m2', { kind: 'callback', event: 'built' }), b.step('m2', { kind: 'callback', event: 'built' })]);
  await Promise.all([a.idle(), b.idle()]);
  t.equal(converged.length, 1, `converged once, by one instance (${converged.join(', ')})`);
  t.same(
    (await transitions('m2')).slice(-3),
    ['installing→installed', 'installed→converging', 'converging→ready'],
    'installed, converging and ready written once each',
  );
  t.equal((await transitions('m2')).filter((s) => s.endsWith('→installed')).length, 1);
});

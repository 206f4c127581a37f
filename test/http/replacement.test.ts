/**
 * Replacement by cabling over HTTP: a box whose LLDP neighbours match a machine's cabling takes
 * over that machine (auto), waits for an accept (confirm) or is left alone (never); the old MACs
 * are retired, the history kept; two live boxes in one slot are a cabling error.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../server/store/sqlite.js';
import { startSshdHost } from '../converge/sshd-host.js';
import { slowStore } from '../store/fakes/slow-store.js';
import { BOOT, discoverySetup, report } from '../helpers/discovery.js';

const OLD = '52:54:00:0d:00:01';
const NEW = BOOT;
const SLOT = { data0: { switch: 'sw-a3', port: 'Ethernet1/1' } };

/** A box on sw-a3 Ethernet1/1 (and Ethernet1/2 for its second NIC), serial `serial`. */
const box = (serial: string, macs: string[], patch: Record<string, unknown> = {}) => report({ system: { manufacturer: 'QEMU', product: 'Standard PC', serial }, ...patch }, macs);

t.test('replace: auto — the new box takes the name, the MACs from LLDP and a reinstall; the old MACs are retired', async (t) => {
  const { api, discover, curl, svc } = await discoverySetup(t);
  const web = { name: 'web-x', profile: 'p1', macs: [OLD], cabling: SLOT, replace: 'auto', bmc: { driver: 'ipmi', address: '10.0.0.1', username: 'admin', password: 's3cret-bmc', addressFrom: 'discovery' } };
  t.equal((await api('POST', '/api/v1/machines', web)).status, 201);

  const NEW2 = '52:54:00:d1:5c:77';
  const answer = await discover(box('NEW-0001', [NEW2, NEW], { bmc: { address: '10.0.0.99' } }), NEW);
  t.match(answer, { state: 'accepted', machine: 'web-x', action: 'reboot' }, 'taken over at once, and told to reboot into its install');

  const m = (await api('GET', '/api/v1/machines/web-x')).json;
  t.same(m.macs, [NEW, NEW2], 'the machine has the new box MACs, the boot MAC first');
  t.same(m.nics, { data0: NEW2 }, 'the cabled role from LLDP (the NIC on Ethernet1/1), not the boot NIC');
  t.match(m.cabling, SLOT);
  t.match(m.box, { macs: [NEW, NEW2], serial: 'NEW-0001' }, 'the box in the slot now');
  t.match(m.replacements, [{ machine: 'web-x', oldMacs: [OLD], newMacs: [NEW, NEW2], newSerial: 'NEW-0001', slot: SLOT }], 'the history');
  t.match(m.state, /reinstall-requested|power-cycling/, 'the reinstall started');
  const stored = await svc.reads.machine('web-x');
  t.match(stored?.bmc, { address: '10.0.0.99', password: 's3cret-bmc' }, 'bmc.addressFrom: discovery took the reported address and kept the credentials');
  const events = await svc.reads.events({ machine: 'web-x', limit: 1000 });
  const replaced = events.find((e) => e.kind === 'replaced');
  t.match(replaced, { level: 'info', message: /web-x is box [0-9a-f]{12} now \(data0 sw-a3 Ethernet1\/1\): serial \? → NEW-0001, MACs 52:54:00:0d:00:01 → / });
  t.ok(events.findIndex((e) => e.kind === 'replaced') < events.findIndex((e) => e.kind === 'state' && e.data?.to === 'reinstall-requested'), 'replaced, then the reinstall');

  t.match((await curl('127.0.0.1', `/ipxe?mac=${OLD}`)).body, /^# discover /m, 'the old MAC is nobody’s: never an install script again');
  const back = await discover(box('OLD-0001', [OLD]), OLD);
  t.match(back, { state: 'new', action: 'wait' }, 'the old box coming back does not take the slot');
  t.match((await api('GET', `/api/v1/discovered/${back.id}`)).json.reason, /retired from machine web-x/);
  t.same((await api('GET', '/api/v1/machines/web-x')).json.macs, [NEW, NEW2], 'web-x keeps the new box');
});

t.test('a slot waiting for its first box: a machine with cabling and no MACs', async (t) => {
  const { api, discover } = await discoverySetup(t);
  const empty = await api('POST', '/api/v1/machines', { name: 'web-e', profile: 'p1', cabling: SLOT, replace: 'auto' });
  t.equal(empty.status, 201, empty.text);
  t.same(empty.json.macs, []);
  const none = await api('POST', '/api/v1/machines', { name: 'web-n', profile: 'p1' });
  t.equal(none.status, 400);
  t.match(none.json.issues, [{ path: 'macs', message: /cabling/ }], 'no MAC and no cabling is refused, naming macs');
  t.match(await discover(box('FIRST-1', [NEW])), { state: 'accepted', machine: 'web-e' });
  t.same((await api('GET', '/api/v1/machines/web-e')).json.macs, [NEW]);
});

t.test('replace: confirm waits, an empty accept carries it out; replace: never leaves the box alone', async (t) => {
  const { api, discover } = await discoverySetup(t);
  await api('POST', '/api/v1/machines', { name: 'web-c', profile: 'p1', macs: [OLD], cabling: SLOT });
  const matched = await discover(box('NEW-C', [NEW]));
  t.match(matched, { state: 'matched', action: 'wait' });
  const entry = (await api('GET', `/api/v1/discovered/${matched.id}`)).json;
  t.match(entry, { replaces: 'web-c', reason: /replace: confirm/ });
  t.same((await api('GET', '/api/v1/machines/web-c')).json.macs, [OLD], 'nothing changed yet');
  const accepted = await api('POST', `/api/v1/discovered/${matched.id}/accept`, {});
  t.equal(accepted.status, 201, accepted.text);
  t.match(accepted.json, { machine: { name: 'web-c', macs: [NEW] }, entry: { state: 'accepted', replaces: 'web-c' }, reinstall: true });
  const partial = await api('POST', `/api/v1/discovered/${matched.id}/accept`, { profile: 'p1' });
  t.equal(partial.status, 409, 'an accepted box is not accepted twice');

  await api('POST', '/api/v1/machines', { name: 'web-v', profile: 'p1', macs: ['52:54:00:0d:00:02'], cabling: { data0: { switch: 'sw-b1', port: 'Ethernet1/1' } }, replace: 'never' });
  const M = '52:54:00:d1:5c:60';
  const never = await discover(box('NEW-V', [M], { interfaces: [{ name: 'eth0', mac: M, lldp: { systemName: 'sw-b1', portId: 'Ethernet1/1' } }] }), M);
  t.match(never, { state: 'new' });
  t.match((await api('GET', `/api/v1/discovered/${never.id}`)).json.reason, /web-v, which says replace: never/);
  const noName = await api('POST', `/api/v1/discovered/${never.id}/accept`, {});
  t.equal(noName.status, 400, 'an empty accept of a box that replaces nothing names the field');
  t.match(noName.json.issues, [{ path: 'name' }]);
});

t.test('two live boxes in one slot: neither takes over, an error event names both', async (t) => {
  const { api, discover, curl, svc } = await discoverySetup(t);
  await api('POST', '/api/v1/machines', { name: 'web-q', profile: 'p1', macs: [OLD], cabling: SLOT, replace: 'auto' });
  // The current box is alive: it asked for its boot script a moment ago.
  t.match((await curl('127.0.0.1', `/ipxe?mac=${OLD}`)).body, /^# local /m);
  const A = '52:54:00:d1:5c:a1';
  const B = '52:54:00:d1:5c:b1';
  const a = await discover(box('BOX-A', [A]), A);
  const b = await discover(box('BOX-B', [B]), B);
  t.match(a, { state: 'matched', action: 'wait' });
  t.match(b, { state: 'matched', action: 'wait' });
  t.same((await api('GET', '/api/v1/machines/web-q')).json.macs, [OLD], 'neither is rebound');
  t.same((await api('GET', '/api/v1/machines/web-q')).json.replacements, []);
  const errors = (await svc.reads.events({ machine: 'web-q', limit: 1000 })).filter((e) => e.level === 'error');
  t.match(errors.at(-1)?.message, new RegExp(`cabling error: box ${b.id} \\(${B}\\) is in the slot of web-q, but its current box \\(${OLD}\\) was heard \\d+ s ago and box ${a.id} \\(${A}\\) claimed it`), 'the error names both boxes');
  t.match((await api('GET', `/api/v1/discovered/${a.id}`)).json.reason, /cabling error/);
});

t.test('the quiet window: once the old box is silent long enough, the new one takes over', async (t) => {
  const clock = { at: Date.now(), now: () => clock.at };
  const { api, discover, curl } = await discoverySetup(t, { discovery: { replaceQuietSeconds: 60 } }, clock);
  await api('POST', '/api/v1/machines', { name: 'web-w', profile: 'p1', macs: [OLD], cabling: SLOT, replace: 'auto' });
  await curl('127.0.0.1', `/ipxe?mac=${OLD}`);
  clock.at += 30_000;
  t.match(await discover(box('NEW-W', [NEW])), { state: 'matched' }, 'heard 30 s ago: waits');
  clock.at += 31_000;
  t.match(await discover(box('NEW-W', [NEW])), { state: 'accepted', machine: 'web-w' }, 'silent 61 s: the same box reporting again takes over (it is not its own rival)');
});

t.test('a box that does not fit the slot profile stays matched with the reason; a box in two slots is a cabling error', async (t) => {
  const { api, discover } = await discoverySetup(t);
  await api('POST', '/api/v1/profiles', { name: 'big', os: 'rocky-9', firmware: 'bios', disks: [{ name: 'sys0', path: '/dev/disk/by-path/pci-0000:00:04.0', sizeGiB: 500 }], storage: { disks: ['sys0'], volumes: [{ name: 'root', mount: '/', grow: true }] } });
  await api('POST', '/api/v1/machines', { name: 'db-1', profile: 'big', macs: [OLD], cabling: SLOT, replace: 'auto' });
  const misfit = await discover(box('SMALL', [NEW]));
  t.match(misfit, { state: 'matched' });
  t.match((await api('GET', `/api/v1/discovered/${misfit.id}`)).json, { replaces: 'db-1', reason: /profile big does not fit.*disks\.sys0/ });
  t.same((await api('GET', '/api/v1/machines/db-1')).json.macs, [OLD], 'nothing changed');

  await api('POST', '/api/v1/machines', { name: 'db-2', profile: 'p1', macs: ['52:54:00:0d:00:03'], cabling: SLOT, replace: 'auto' });
  const M = '52:54:00:d1:5c:c1';
  const both = await discover(box('BOTH', [M]), M);
  t.match((await api('GET', `/api/v1/discovered/${both.id}`)).json.reason, /match the cabling of db-1 and db-2/);
});

t.test('GET /machines?cabling=SWITCH lists that switch’s slots and the box in each', async (t) => {
  const { api, discover } = await discoverySetup(t);
  await api('POST', '/api/v1/machines', { name: 'web-x', profile: 'p1', macs: [OLD], cabling: SLOT, replace: 'auto' });
  await api('POST', '/api/v1/machines', { name: 'web-y', profile: 'p1', cabling: { data0: { switch: 'sw-a3', port: 'Ethernet1/9' } } });
  await api('POST', '/api/v1/machines', { name: 'other', profile: 'p1', macs: ['52:54:00:0d:00:09'] });
  await discover(box('NEW-X', [NEW]));
  const slots = (await api('GET', '/api/v1/machines?cabling=sw-a3')).json;
  t.same(slots.map((m: { name: string }) => m.name), ['web-x', 'web-y'], 'only the machines cabled to sw-a3');
  t.match(slots[0], { ports: [{ role: 'data0', port: 'Ethernet1/1', mac: NEW }], box: { macs: [NEW], serial: 'NEW-X' } });
  t.match(slots[1], { ports: [{ role: 'data0', port: 'Ethernet1/9' }], box: { macs: [] } }, 'an empty slot');
  t.equal((await api('GET', '/api/v1/machines')).json.length, 3, 'without the filter, every machine');
});

t.test('replace: auto never takes the slot of a host that still answers SSH with its pinned key', async (t) => {
  const sshd = await startSshdHost();
  t.teardown(() => sshd.close());
  const clock = { at: Date.now(), now: () => clock.at };
  const { api, discover, curl, svc } = await discoverySetup(t, { discovery: { replaceQuietSeconds: 60 } }, clock);
  // The installed host: at 127.0.0.1, SSH on the test sshd, its host key pinned by an install.
  const web = { name: 'web-s', profile: 'p1', macs: [OLD], cabling: SLOT, replace: 'auto', ipv4: { address: '127.0.0.1/8', gateway: '127.0.0.254' }, ssh: { port: sshd.port } };
  t.equal((await api('POST', '/api/v1/machines', web)).status, 201);
  t.equal((await api('POST', '/api/v1/machines/web-s/reinstall')).status, 202);
  const token = /token=([A-Za-z0-9_-]+)/.exec((await curl('127.0.0.1', `/ipxe?mac=${OLD}`)).body)![1];
  t.equal((await curl('127.0.0.1', `/kickstart?token=${token}`)).status, 200);
  t.equal((await curl('127.0.0.1', `/callback/hostkeys?token=${token}`, { raw: `${sshd.hostKey}\n` })).status, 200);
  t.same((await svc.reads.status('web-s'))?.hostKeys, [sshd.hostKey.split(' ').slice(0, 2).join(' ')]);
  clock.at += 61_000; // its MAC has been silent longer than the quiet window

  const liar = await discover(box('LIAR-1', [NEW]));
  t.match(liar, { state: 'matched', action: 'wait' }, 'a box claiming the port of a live host does not take it');
  t.match((await api('GET', `/api/v1/discovered/${liar.id}`)).json.reason, /its current box answers SSH at 127\.0\.0\.1 with its pinned host key/);
  t.same((await api('GET', '/api/v1/machines/web-s')).json.macs, [OLD]);

  await sshd.stop(); // the host dies
  clock.at += 61_000;
  t.match(await discover(box('LIAR-1', [NEW])), { state: 'accepted', machine: 'web-s' }, 'once it is down, the box in its ports takes over');
});

t.test('one report sent twice at once (a retried slow answer): taken once, the takeover stands', async (t) => {
  // A store a few milliseconds away, so the second copy arrives while the first is being taken.
  const dir = mkdtempSync(join(tmpdir(), 'ks-repl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { api, boot, curl } = await discoverySetup(t, {}, undefined, async () => slowStore(await openSqliteStore(join(dir, 'kickstand.db')), 5));
  await api('POST', '/api/v1/machines', { name: 'web-r', profile: 'p1', macs: [OLD], cabling: SLOT, replace: 'auto' });
  const token = await boot(NEW);
  const [a, b] = await Promise.all([0, 1].map(() => curl('127.0.0.1', `/inventory?token=${token}`, { json: box('NEW-R', [NEW]) })));
  t.same([a.status, b.status].sort(), [200, 410], 'one is taken, the other is told the boot reported already');
  const entry = (await api('GET', '/api/v1/discovered')).json[0];
  t.match(entry, { state: 'accepted', machine: 'web-r' }, 'the entry stays accepted');
  t.same(JSON.parse((await curl('127.0.0.1', `/discovery?token=${token}`)).body), { action: 'reboot' }, 'and the box is told to reboot into its install');
});

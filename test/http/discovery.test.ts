/**
 * Discovery over HTTP, with a real curl as the machine (bound to 127.0.0.1 or 127.0.0.2): the
 * per-boot token, the single report, rediscovery, rules, accept with the profile fit check,
 * the agent's next action, and the install's own report stopping a misfit install.
 */
import t from 'tap';
import { minimalProfile } from '../helpers/fixtures.js';
import { BOOT, DISK, discoverySetup as setup, report, SECOND } from '../helpers/discovery.js';
import { startTestService } from '../helpers/service.js';

t.test('a discovery boot: token, kickstart, one report, wait; the entry is listed with its hardware', async (t) => {
  const { curl, boot, api, svc } = await setup(t);
  const token = await boot();
  t.equal((await curl('127.0.0.1', `/discovery/kickstart?token=${token}`)).status, 200, 'the kickstart comes with the token');
  t.equal((await curl('127.0.0.2', `/discovery/kickstart?token=${token}`)).status, 403, 'not to another address');
  t.equal((await curl('127.0.0.1', '/discovery/kickstart?token=made-up')).status, 403, 'nor with a made-up token');
  t.equal((await curl('127.0.0.1', `/discovery?token=${token}`)).status, 410, 'no action before a report');

  t.equal((await curl('127.0.0.2', `/inventory?token=${token}`, { json: report() })).status, 403, 'a report from another address is refused');
  const first = await curl('127.0.0.1', `/inventory?token=${token}`, { json: report() });
  t.equal(first.status, 200, first.body);
  const { id, state, action } = JSON.parse(first.body);
  t.match(id, /^[0-9a-f]{12}$/);
  t.equal(state, 'new', 'no rule: new');
  t.equal(action, 'wait');
  t.equal((await curl('127.0.0.1', `/inventory?token=${token}`, { json: report() })).status, 410, 'the report is single-use');
  t.same(JSON.parse((await curl('127.0.0.1', `/discovery?token=${token}`)).body), { action: 'wait' });
  t.equal((await curl('127.0.0.2', `/discovery?token=${token}`)).status, 403, 'the action only to the box');

  const list = (await api('GET', '/api/v1/discovered')).json;
  t.equal(list.length, 1);
  t.match(list[0], { id, macs: [BOOT, SECOND], state: 'new', summary: /QEMU Standard PC.*2 CPUs.*2 NICs/, ip: '127.0.0.1' });
  t.notOk(list[0].inventory, 'the list leaves the report out');
  const one = (await api('GET', `/api/v1/discovered/${id}`)).json;
  t.equal(one.inventory.system.serial, 'KS-0001');
  t.same(one.inventory.vendorExtra, { kept: true }, 'unknown fields are kept');
  t.equal(one.inventory.bootMac, BOOT, 'the boot MAC is the one that netbooted');
  t.equal((await api('GET', '/api/v1/discovered/000000000000')).status, 404);
  t.equal((await api('GET', '/api/v1/discovered/nope')).status, 400, 'a malformed id names the field');
  const events = (await svc.reads.events({ limit: 1000 })).filter((e) => e.kind === 'inventory');
  t.ok(events.some((e) => e.message.startsWith(`new box ${id} reported`) && e.mac === BOOT), 'the report is an event');
  t.ok(events.some((e) => /hardware report refused: this discovery boot has reported already/.test(e.message)), 'so is a refused one');
});

t.test('bad reports: not JSON, wrong types (400 naming the field), over 1 MiB (413), unknown token (403)', async (t) => {
  const { curl, boot, api } = await setup(t);
  const token = await boot();
  const notJson = await curl('127.0.0.1', `/inventory?token=${token}`, { raw: '{"system": ' });
  t.equal(notJson.status, 400);
  t.match(JSON.parse(notJson.body).message, /not JSON/);
  const badType = await curl('127.0.0.1', `/inventory?token=${token}`, { json: report({ disks: [{ name: 'vda', sizeBytes: 'big' }] }) });
  t.equal(badType.status, 400);
  t.match(JSON.parse(badType.body).issues, [{ path: 'disks.0.sizeBytes' }]);
  const badMac = await curl('127.0.0.1', `/inventory?token=${token}`, { json: report({ interfaces: [{ name: 'eth0', mac: 'zz' }] }) });
  t.match(JSON.parse(badMac.body).issues, [{ path: 'interfaces.0.mac' }]);
  const control = await curl('127.0.0.1', `/inventory?token=${token}`, { json: report({ system: { product: 'evil\nline' } }) });
  t.match(JSON.parse(control.body).issues, [{ path: 'system.product' }], 'control characters are refused');
  const huge = await curl('127.0.0.1', `/inventory?token=${token}`, { json: report({ padding: 'x'.repeat(1 << 20) }) });
  t.equal(huge.status, 413, 'over 1 MiB');
  t.equal((await curl('127.0.0.1', '/inventory?token=made-up', { json: report() })).status, 403);
  t.equal((await api('GET', '/api/v1/discovered')).json.length, 0, 'nothing was stored');
  t.equal((await curl('127.0.0.1', `/inventory?token=${token}`, { json: report() })).status, 200, 'refused reports did not use the token up');
});

t.test('a discovery token expires (discovery.tokenTtlSeconds): no kickstart, no report; then the address that asked first is free again', async (t) => {
  const clock = { at: Date.now(), now: () => clock.at };
  const { curl, boot } = await setup(t, { discovery: { tokenTtlSeconds: 60 } }, clock);
  const token = await boot();
  clock.at += 61_000;
  const ks = await curl('127.0.0.1', `/discovery/kickstart?token=${token}`);
  t.equal(ks.status, 403);
  t.match(ks.body, /token expired/);
  t.equal((await curl('127.0.0.1', `/inventory?token=${token}`, { json: report() })).status, 403, 'an expired token reports nothing');
  t.ok(await boot(BOOT, '127.0.0.2'), 'once expired, another address may take a discovery boot of this MAC');
});

t.test('discovery.maxEntries: a new box beyond it is refused (503), a known one still updates its entry', async (t) => {
  const { curl, boot, api } = await setup(t, { discovery: { maxEntries: 1 } });
  t.equal((await curl('127.0.0.1', `/inventory?token=${await boot()}`, { json: report() })).status, 200);
  const M = '52:54:00:d1:5c:40';
  const full = await curl('127.0.0.1', `/inventory?token=${await boot(M)}`, { json: report({ system: { serial: 'KS-0040' } }, [M]) });
  t.equal(full.status, 503);
  t.match(JSON.parse(full.body).message, /discovered list is full \(discovery\.maxEntries 1\)/);
  t.equal((await curl('127.0.0.1', `/inventory?token=${await boot()}`, { json: report({ memory: { totalMiB: 8192 } }) })).status, 200, 'the known box reports again');
  t.equal((await api('GET', '/api/v1/discovered')).json.length, 1);
});

t.test('DHCP off: a live unreported token stays with the address that asked first', async (t) => {
  const { curl, boot } = await setup(t);
  await boot(BOOT, '127.0.0.1');
  const other = await curl('127.0.0.2', `/ipxe?mac=${BOOT}`);
  t.match(other.body, /^# unknown /m, 'another address asking for the same MAC gets no discovery token');
  t.ok(await boot(BOOT, '127.0.0.1'), 'the same address booting again gets a fresh one');
});

t.test('a box that boots again is the same entry: by MAC, by serial, by UUID', async (t) => {
  const { curl, boot, api } = await setup(t);
  const post = async (mac: string, body: unknown) => JSON.parse((await curl('127.0.0.1', `/inventory?token=${await boot(mac)}`, { json: body })).body).id;
  const id = await post(BOOT, report());
  t.equal(await post(BOOT, report({ memory: { totalMiB: 4096 } })), id, 'same MACs');
  const NEW_NIC = '52:54:00:d1:5c:99';
  t.equal(await post(NEW_NIC, report({}, [NEW_NIC])), id, 'a new NIC, same serial');
  t.equal(await post('52:54:00:d1:5c:98', report({ system: { serial: 'To Be Filled By O.E.M.', uuid: '5f1c2d3e-0000-4000-8000-00000000d15c' } }, ['52:54:00:d1:5c:98'])), id, 'junk serial, same UUID');
  const other = await post('52:54:00:d1:5c:97', report({ system: { serial: 'KS-0002' } }, ['52:54:00:d1:5c:97']));
  t.not(other, id, 'a different box is a different entry');
  const list = (await api('GET', '/api/v1/discovered')).json;
  t.equal(list.length, 2, 'never a duplicate');
  t.same(list.find((e: { id: string }) => e.id === id).macs, ['52:54:00:d1:5c:98'], 'the entry holds the MACs of its latest report');
});

t.test('accept: the fit check names the profile field, then the machine is created with its hardware', async (t) => {
  const { curl, boot, api } = await setup(t);
  await api('POST', '/api/v1/profiles', { ...minimalProfile('big'), disks: [{ name: 'sys0', path: DISK, sizeGiB: 40 }] });
  await api('POST', '/api/v1/profiles', { ...minimalProfile('elsewhere'), disks: [{ name: 'sys0', path: '/dev/disk/by-path/pci-0000:3b:00.0-scsi-0:0:1:0' }] });
  await api('POST', '/api/v1/profiles', minimalProfile('efi', 'uefi'));
  const token = await boot();
  const { id } = JSON.parse((await curl('127.0.0.1', `/inventory?token=${token}`, { json: report() })).body);

  const small = await api('POST', `/api/v1/discovered/${id}/accept`, { name: 'web-1', profile: 'big' });
  t.equal(small.status, 409);
  t.match(small.json, { error: 'Misfit', issues: [{ path: 'disks.sys0', message: /20(\.0)? GiB.*needs 40 GiB/ }] });
  const missing = await api('POST', `/api/v1/discovered/${id}/accept`, { name: 'web-1', profile: 'elsewhere' });
  t.match(missing.json.issues, [{ path: 'disks.sys0', message: /not on this machine; it has by-path pci-0000:00:04\.0/ }]);
  const firmware = await api('POST', `/api/v1/discovered/${id}/accept`, { name: 'web-1', profile: 'efi' });
  t.match(firmware.json.issues, [{ path: 'firmware', message: /uefi.*bios/ }]);
  const noProfile = await api('POST', `/api/v1/discovered/${id}/accept`, { name: 'web-1', profile: 'ghost' });
  t.equal(noProfile.status, 400);
  t.match(noProfile.json.issues, [{ path: 'profile' }]);
  const badName = await api('POST', `/api/v1/discovered/${id}/accept`, { name: 'Web 1', profile: 'p1' });
  t.equal(badName.status, 400);
  t.match(badName.json.issues, [{ path: 'name' }]);
  t.equal((await api('GET', '/api/v1/machines')).json.length, 0, 'no refused accept created a machine');

  const ok = await api('POST', `/api/v1/discovered/${id}/accept`, { name: 'web-1', profile: 'p1', bmc: { driver: 'ipmi', address: '10.0.0.9', password: 's3cret-pw' } });
  t.equal(ok.status, 201, ok.text);
  t.match(ok.json, { machine: { name: 'web-1', macs: [BOOT, SECOND], nics: { data0: BOOT }, state: 'registered' }, entry: { state: 'accepted', machine: 'web-1' }, reinstall: false });
  t.notMatch(ok.text, /s3cret-pw/, 'the BMC password is not echoed');
  const hw = (await api('GET', '/api/v1/machines/web-1/hardware')).json;
  t.match(hw, { machine: 'web-1', source: 'discovery', inventory: { system: { serial: 'KS-0001' } } });
  t.equal((await api('GET', '/api/v1/machines/nobody/hardware')).status, 404);
  t.same(JSON.parse((await curl('127.0.0.1', `/discovery?token=${token}`)).body), { action: 'poweroff' }, 'accepted without a reinstall: power off');
  const again = await api('POST', `/api/v1/discovered/${id}/accept`, { name: 'web-2', profile: 'p1' });
  t.equal(again.status, 409, 'an accepted box is not accepted twice');
  t.match((await curl('127.0.0.1', `/ipxe?mac=${BOOT}`)).body, /^# local /m, 'its MAC is a machine now');
});

t.test('accept with a MAC another machine owns: 409 naming macs', async (t) => {
  const { curl, boot, api } = await setup(t);
  const { id } = JSON.parse((await curl('127.0.0.1', `/inventory?token=${await boot()}`, { json: report() })).body);
  t.equal((await api('POST', '/api/v1/machines', { name: 'old-1', profile: 'p1', macs: [SECOND] })).status, 201);
  const res = await api('POST', `/api/v1/discovered/${id}/accept`, { name: 'web-1', profile: 'p1' });
  t.equal(res.status, 409);
  t.match(res.json.issues, [{ path: 'macs' }]);
});

t.test('rules: auto accept with reinstall tells the box to reboot into its install; manual waits; reject powers off', async (t) => {
  const { curl, boot, api } = await setup(t);
  const put = (rule: Record<string, unknown>) => api('POST', '/api/v1/rules', rule);
  t.equal((await put({ name: 'qemu-auto', priority: 10, profile: 'p1', match: [{ key: 'system.serial', operator: 'In', values: ['KS-0001'] }, { key: 'disks.count', operator: 'Gt', values: ['0'] }, { key: 'interfaces.lldp.systemName', operator: 'Exists' }], machineName: 'node-{{system.serial}}', accept: 'auto', reinstall: true })).status, 201);
  t.equal((await put({ name: 'qemu-manual', priority: 5, profile: 'p1', match: [{ key: 'system.manufacturer', operator: 'In', values: ['QEMU'] }] })).status, 201);
  t.equal((await put({ name: 'junk', priority: 1, profile: 'p1', match: [{ key: 'system.product', operator: 'In', values: ['Junk'] }], accept: 'reject' })).status, 201);

  const token = await boot();
  const auto = JSON.parse((await curl('127.0.0.1', `/inventory?token=${token}`, { json: report() })).body);
  t.match(auto, { state: 'accepted', machine: 'node-ks-0001', action: 'reboot' }, 'accepted by the rule and reinstalling');
  t.match((await api('GET', '/api/v1/machines/node-ks-0001/progress')).json, { state: /reinstall-requested|power-cycling/ });
  t.match((await api('GET', `/api/v1/discovered/${auto.id}`)).json, { rule: 'qemu-auto', machine: 'node-ks-0001' });

  const M2 = '52:54:00:d1:5c:20';
  const manual = JSON.parse((await curl('127.0.0.1', `/inventory?token=${await boot(M2)}`, { json: report({ system: { manufacturer: 'QEMU', serial: 'KS-0002' } }, [M2]) })).body);
  t.match(manual, { state: 'matched', action: 'wait' });
  const explained = (await api('GET', `/api/v1/discovered/${manual.id}/rules`)).json;
  t.same(explained.map((v: { rule: string; matches: boolean; chosen: boolean }) => [v.rule, v.matches, v.chosen]), [['qemu-auto', false, false], ['qemu-manual', true, true], ['junk', false, false]]);
  t.match(explained[0].reasons.join('\n'), /system\.serial is "KS-0002", not In \[KS-0001\]/);

  const M3 = '52:54:00:d1:5c:30';
  const token3 = await boot(M3);
  const junk = JSON.parse((await curl('127.0.0.1', `/inventory?token=${token3}`, { json: report({ system: { product: 'Junk', serial: 'KS-0003' } }, [M3]) })).body);
  t.match(junk, { state: 'rejected', action: 'poweroff' }, 'a reject rule: told to power off');

  const rejected = await api('POST', `/api/v1/discovered/${manual.id}/reject`);
  t.match(rejected.json, { state: 'rejected' });
  t.equal((await api('DELETE', `/api/v1/discovered/${junk.id}`)).status, 204);
  t.equal((await curl('127.0.0.1', `/discovery?token=${token3}`)).status, 410, 'a deleted box is told its boot is gone (it reboots and is discovered anew)');
  t.equal((await api('DELETE', `/api/v1/discovered/${junk.id}`)).status, 404);
});

t.test('an auto rule whose profile needs what the box lacks leaves it matched, with the reason', async (t) => {
  const { curl, boot, api } = await setup(t);
  await api('POST', '/api/v1/profiles', { ...minimalProfile('big'), disks: [{ name: 'sys0', path: DISK, sizeGiB: 500 }] });
  await api('POST', '/api/v1/rules', { name: 'all', priority: 1, profile: 'big', match: [{ key: 'system.manufacturer', operator: 'Exists' }], accept: 'auto' });
  const res = JSON.parse((await curl('127.0.0.1', `/inventory?token=${await boot()}`, { json: report() })).body);
  t.match(res, { state: 'matched', action: 'wait' });
  t.match((await api('GET', `/api/v1/discovered/${res.id}`)).json.reason, /not accepted: profile big does not fit.*disks\.sys0/);
  t.equal((await api('GET', '/api/v1/machines')).json.length, 0);
});

t.test("an install's own report refreshes the hardware; a misfit fails the install before partitioning, and a later reinstall is refused", async (t) => {
  const { curl, api } = await setup(t, { unknownMachines: 'ignore' });
  await api('POST', '/api/v1/profiles', { ...minimalProfile('sized'), disks: [{ name: 'sys0', path: DISK, sizeGiB: 10 }] });
  t.equal((await api('POST', '/api/v1/machines', { name: 'node-1', profile: 'sized', macs: [BOOT] })).status, 201);
  const install = async () => {
    t.equal((await api('POST', '/api/v1/machines/node-1/reinstall?force=true')).status, 202);
    const token = /token=([A-Za-z0-9_-]+)/.exec((await curl('127.0.0.1', `/ipxe?mac=${BOOT}`)).body)![1];
    t.equal((await curl('127.0.0.1', `/kickstart?token=${token}`)).status, 200);
    return token;
  };
  const token = await install();
  t.equal((await curl('127.0.0.2', `/inventory?token=${token}`, { json: report() })).status, 403, 'only from the installer’s address');
  const fits = await curl('127.0.0.1', `/inventory?token=${token}`, { json: report() });
  t.equal(fits.status, 200, fits.body);
  t.match((await api('GET', '/api/v1/machines/node-1/hardware')).json, { source: 'install' });
  t.notMatch((await api('GET', '/api/v1/machines/node-1/progress')).json.state, 'failed');

  const token2 = await install();
  const shrunk = report({ disks: [{ name: 'vda', sizeBytes: 5 * 2 ** 30, byPath: DISK }] });
  const misfit = await curl('127.0.0.1', `/inventory?token=${token2}`, { json: shrunk });
  t.equal(misfit.status, 409, 'the agent exits 3 on this, failing the %pre');
  t.match(misfit.body, /profile sized does not fit.*disks\.sys0: .*needs 10 GiB/, 'the reason, as text for the installer log');
  const progress = (await api('GET', '/api/v1/machines/node-1/progress')).json;
  t.match(progress, { state: 'failed', phase: 'installing', reason: /disks\.sys0/, hint: /does not fit/ });

  const refused = await api('POST', '/api/v1/machines/node-1/reinstall?force=true');
  t.equal(refused.status, 409, 'a reinstall of a machine whose hardware does not fit its profile is refused');
  t.match(refused.json, { error: 'Misfit', issues: [{ path: 'disks.sys0' }] });
  await api('PUT', '/api/v1/profiles/sized', { ...minimalProfile('sized'), disks: [{ name: 'sys0', path: DISK, sizeGiB: 4 }] });
  t.equal((await api('POST', '/api/v1/machines/node-1/reinstall')).status, 202, 'once the profile fits, it goes');
});

t.test('unknownMachines local or ignore: no discovery token is handed out', async (t) => {
  for (const mode of ['local', 'ignore'] as const) {
    const { curl } = await setup(t, { unknownMachines: mode });
    const script = (await curl('127.0.0.1', `/ipxe?mac=${BOOT}`)).body;
    t.match(script, /^# unknown /m, `${mode}: the unknown script`);
    t.notMatch(script, /token=/);
  }
});

t.test('the agent script is served as it is, without a token', async (t) => {
  const env = await startTestService(t, { config: { unknownMachines: 'discover' }, service: { renderers: undefined } });
  const res = await fetch(`${env.base}/boot/discovery/agent`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /shellscript/);
  t.match(await res.text(), /^#!\/bin\/sh/);
});

t.test('/docs lists the discovery routes, and the inventory report as a schema', async (t) => {
  const { api } = await startTestService(t);
  const spec = (await api('GET', '/docs/json', undefined, null)).json;
  for (const path of [
    '/boot/inventory',
    '/boot/discovery',
    '/boot/discovery/agent',
    '/boot/discovery/kickstart',
    '/api/v1/discovered',
    '/api/v1/discovered/{id}',
    '/api/v1/discovered/{id}/accept',
    '/api/v1/discovered/{id}/reject',
    '/api/v1/discovered/{id}/rules',
    '/api/v1/machines/{name}/hardware',
  ])
    t.ok(spec.paths[path], `${path} is documented`);
  const ref = spec.paths['/boot/inventory'].post.requestBody.content['application/json'].schema.$ref as string;
  const inventory = spec.components.schemas[ref.split('/').pop()!];
  t.ok(inventory.properties.interfaces && inventory.properties.disks, 'the report body is documented');
  t.match(JSON.stringify(inventory), /"lldp"/, 'down to the LLDP neighbour');
  const refs = [...JSON.stringify(spec).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
  t.same(refs.filter((r) => !spec.components.schemas[r]), [], 'every schema the document refers to is in it');
});

import t from 'tap';
import { miscabled, slotMatch } from '../../server/discovery/cabling.js';
import { assignNics } from '../../server/discovery/fit.js';
import { Inventory } from '../../server/model/hardware.js';
import { Profile } from '../../server/model/profile.js';

const A = '52:54:00:00:0a:01';
const B = '52:54:00:00:0a:02';
const C = '52:54:00:00:0a:03';
const inv = (nics: { mac: string; lldp?: Record<string, string> }[], bootMac = A) =>
  Inventory.parse({ bootMac, interfaces: nics.map((n, i) => ({ name: `eno${i + 1}`, carrier: true, ...n })) });
const on = (systemName: string, portId: string, extra: Record<string, string> = {}) => ({ systemName, portId, ...extra });

t.test('slotMatch: every cabled role on its own NIC, by system name or chassis id, port id or description', async (t) => {
  const two = { data0: { switch: 'sw-a3', port: 'Ethernet1/12' }, data1: { switch: 'sw-a4', port: 'Ethernet1/12' } };
  const box = inv([{ mac: A, lldp: on('sw-a4', 'Ethernet1/12') }, { mac: B, lldp: on('sw-a3', 'Ethernet1/12') }, { mac: C }]);
  t.same(slotMatch(two, box), { data0: B, data1: A }, 'roles follow the ports, not the NIC order');
  t.equal(slotMatch(two, inv([{ mac: A, lldp: on('sw-a3', 'Ethernet1/12') }, { mac: B, lldp: on('sw-a4', 'Ethernet1/13') }])), undefined, 'one cable in another port: not this slot');
  t.equal(slotMatch(two, inv([{ mac: A, lldp: on('sw-a3', 'Ethernet1/12') }])), undefined, 'a cabled role with no NIC heard there');
  t.equal(slotMatch({}, box), undefined, 'no cabling, no slot');
  t.equal(slotMatch(two, inv([{ mac: A }, { mac: B }])), undefined, 'no LLDP heard');
  const same = { data0: { switch: 'sw-a3', port: 'Ethernet1/12' }, data1: { switch: 'sw-a3', port: 'Ethernet1/12' } };
  t.equal(slotMatch(same, inv([{ mac: A, lldp: on('sw-a3', 'Ethernet1/12') }])), undefined, 'one NIC cannot fill two roles');
  const byChassis = { data0: { switch: '00:1c:73:aa:bb:cc', port: 'uplink to a3-07' } };
  t.same(slotMatch(byChassis, inv([{ mac: A, lldp: on('sw-a3', 'Et12', { chassisId: '00:1c:73:aa:bb:cc', portDescription: 'uplink to a3-07' }) }])), { data0: A }, 'chassis id and port description');
  t.same(slotMatch({ data0: { switch: 'sw-a3', port: 'Ethernet1/12' } }, inv([{ mac: A, lldp: on(' sw-a3', 'Ethernet1/12 ') }])), { data0: A }, 'padding trimmed');
  t.equal(slotMatch({ data0: { switch: 'SW-A3', port: 'Ethernet1/12' } }, inv([{ mac: A, lldp: on('sw-a3', 'Ethernet1/12') }])), undefined, 'names are compared exactly (switches name ports case-sensitively)');
});

t.test('miscabled: a cabled role whose NIC hears another port', async (t) => {
  const cabling = { data0: { switch: 'sw-a3', port: 'Ethernet1/12' }, data1: { switch: 'sw-a4', port: 'Ethernet1/12' } };
  const report = inv([{ mac: A, lldp: on('sw-a3', 'Ethernet1/13') }, { mac: B, lldp: on('sw-a4', 'Ethernet1/12') }]);
  t.same(miscabled(cabling, { data0: A, data1: B }, report), ['data0 is on sw-a3 Ethernet1/13, cabling says sw-a3 Ethernet1/12']);
  t.same(miscabled(cabling, { data0: C, data1: B }, report), [], 'a role whose NIC heard nothing is not a contradiction');
});

t.test('assignNics: roles pinned by cabling come first; the others as before', async (t) => {
  const profile = Profile.parse({
    name: 'p',
    os: 'rocky-9',
    firmware: 'bios',
    disks: [{ name: 'sys0', path: '/dev/disk/by-path/pci-0000:00:04.0' }],
    storage: { disks: ['sys0'], volumes: [{ name: 'root', mount: '/', grow: true }] },
    network: { interfaces: [{ role: 'data0', ipv4: 'dhcp' }, { role: 'data1', ipv4: 'none' }] },
  });
  const box = inv([{ mac: A }, { mac: B }, { mac: C }], A);
  t.same(assignNics(profile, box), { nics: { data0: A, data1: B }, macs: [A, B, C] }, 'unpinned: the boot NIC takes the first role');
  t.same(assignNics(profile, box, { data0: C }), { nics: { data0: C, data1: A }, macs: [A, B, C] }, 'data0 pinned to the NIC in its port; the boot NIC takes the next free role');
});

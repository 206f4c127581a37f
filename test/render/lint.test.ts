import t from 'tap';
import type { MachineInput } from '../../server/model/machine.js';
import type { ProfileInput } from '../../server/model/profile.js';
import { assertRenderable, lintMachine, lintProfile } from '../../server/render/lint.js';
import { RenderError } from '../../server/model/errors.js';
import { ctxFor, examples, machine, profile } from './helpers.js';

/** One bad profile per rule: each must be refused with exactly that field path. */
const storage = (over: Partial<NonNullable<ProfileInput['storage']>>): Partial<ProfileInput> => ({
  storage: { layout: 'single', disks: ['sys0'], volumes: [{ name: 'root', mount: '/', sizeGiB: 10, grow: true }], ...over },
});
const network = (over: Partial<NonNullable<ProfileInput['network']>>): Partial<ProfileInput> => ({
  network: { interfaces: [{ role: 'data0', ipv4: 'dhcp' }], ...over },
});
const bond = { name: 'bond0', mode: '802.3ad' as const, members: ['data0', 'data1'] };
const twoNics = [{ role: 'data0' }, { role: 'data1' }];

const profileCases: Array<[string, Partial<ProfileInput>, string[]]> = [
  ['two disk roles on one path', { disks: [{ name: 'sys0', path: '/dev/disk/by-id/a' }, { name: 'sys1', path: '/dev/disk/by-id/a' }] }, ['disks.1.path']],
  ['mountpoint used twice', storage({ volumes: [{ name: 'root', mount: '/', sizeGiB: 5, grow: true }, { name: 'var', mount: '/var', sizeGiB: 1 }, { name: 'var2', mount: '/var', sizeGiB: 1 }] }), ['storage.volumes.2.mount']],
  ['a volume on the /boot the layout creates', storage({ volumes: [{ name: 'root', mount: '/', sizeGiB: 5, grow: true }, { name: 'boot', mount: '/boot', sizeGiB: 1 }] }), ['storage.volumes.1.mount']],
  ['a volume on /boot/efi under UEFI', storage({ volumes: [{ name: 'root', mount: '/', sizeGiB: 5, grow: true }, { name: 'efi', mount: '/boot/efi', sizeGiB: 1 }] }), ['storage.volumes.1.mount']],
  ['a data volume on a volume mountpoint', storage({ data: [{ disk: 'data0', mount: '/' }] }), ['storage.data.0.mount']],
  ['logical volume name used twice', storage({ volumes: [{ name: 'root', mount: '/', sizeGiB: 5, grow: true }, { name: 'root', mount: '/var', sizeGiB: 1 }] }), ['storage.volumes.1.name']],
  ['swap without fstype swap', storage({ volumes: [{ name: 'root', mount: '/', sizeGiB: 5, grow: true }, { name: 'swap', mount: 'swap', sizeGiB: 1 }] }), ['storage.volumes.1.fstype']],
  ['two growing volumes', storage({ volumes: [{ name: 'root', mount: '/', sizeGiB: 5, grow: true }, { name: 'var', mount: '/var', grow: true }] }), ['storage.volumes.1.grow']],
  ['a fixed volume without size', storage({ volumes: [{ name: 'root', mount: '/', sizeGiB: 5, grow: true }, { name: 'var', mount: '/var' }] }), ['storage.volumes.1.sizeGiB']],
  ['one data disk used twice', storage({ data: [{ disk: 'data0', mount: '/srv/a' }, { disk: 'data0', mount: '/srv/b' }] }), ['storage.data.1.disk']],
  ['an xfs label longer than 12', storage({ data: [{ disk: 'data0', mount: '/srv', label: 'thirteen-char' }] }), ['storage.data.0.label']],
  ['volumes larger than the disk', storage({ volumes: [{ name: 'root', mount: '/', sizeGiB: 39, grow: true }] }), ['storage.volumes']],
  ['a NIC role used twice', network({ interfaces: [{ role: 'data0', ipv4: 'dhcp' }, { role: 'data0' }] }), ['network.interfaces.1.role']],
  ['a role that cannot be an interface name', network({ interfaces: [{ role: 'eth0', ipv4: 'dhcp' }] }), ['network.interfaces.0.role']],
  ['a bond named like a role', network({ interfaces: twoNics, bonds: [{ ...bond, ipv4: 'dhcp' }, { ...bond, name: 'bond0', members: ['data1'] }] }), ['network.bonds.1.name', 'network.bonds.1.members.0']],
  ['a bond port that is no interface', network({ interfaces: twoNics, bonds: [{ ...bond, members: ['data0', 'data9'], ipv4: 'dhcp' }] }), ['network.bonds.0.members.1']],
  ['a NIC in two bonds', network({ interfaces: twoNics, bonds: [{ ...bond, ipv4: 'dhcp' }, { ...bond, name: 'bond1', members: ['data1'] }] }), ['network.bonds.1.members.0']],
  ['a bond port with its own address', network({ interfaces: [{ role: 'data0', ipv4: 'dhcp' }, { role: 'data1' }], bonds: [{ ...bond, ipv4: 'dhcp' }] }), ['network.bonds.0.members.0']],
  ['a VLAN on nothing', network({ vlans: [{ id: 100, parent: 'bond7', ipv4: 'dhcp' }] }), ['network.vlans.0.parent']],
  ['two VLANs on one parent', network({ interfaces: [{ role: 'data0' }], vlans: [{ id: 100, parent: 'data0', ipv4: 'dhcp' }, { id: 200, parent: 'data0' }] }), ['network.vlans.1.parent']],
  ['a VLAN on a parent with its own address', network({ interfaces: [{ role: 'data0', ipv4: 'dhcp' }], vlans: [{ id: 100, parent: 'data0' }] }), ['network.vlans.0.parent']],
  ['a bridge port already in a bond', network({ interfaces: twoNics, bonds: [bond], bridges: [{ name: 'br0', members: ['data1'], ipv4: 'dhcp' }] }), ['network.bridges.0.members.0']],
  ['a bridge on nothing', network({ bridges: [{ name: 'br0', members: ['nic9'], ipv4: 'dhcp' }] }), ['network.bridges.0.members.0']],
  ['two static devices', network({ interfaces: [{ role: 'data0', ipv4: 'static' }, { role: 'data1' }], vlans: [{ id: 5, parent: 'data1', ipv4: 'static' }] }), ['network.vlans.0.ipv4']],
];

/**
 * Rows the store holds from before the schema refused them are not parsed again: lint is the
 * guard at render time. Each is a valid profile or machine with one field overwritten.
 */
type P = ReturnType<typeof profile>;
const storedProfileCases: Array<[string, (p: P) => unknown, string[]]> = [
  ['a kernel argument that would split the command line', (p) => ({ ...p, kernelArgs: ['console=ttyS0 quiet'] }), ['kernelArgs.0']],
  ['an SSH key with a line break', (p) => ({ ...p, users: [{ name: 'ops', groups: [], sshKeys: ['ssh-ed25519 AAAA\n%post\nrm -rf /\n%end'] }] }), ['users.0.sshKeys.0']],
  ['a root hash followed by a %pre section', (p) => ({ ...p, rootPasswordHash: '$6$x$y\n%pre\nreboot\n%end' }), ['rootPasswordHash']],
  ['a user hash with a quote', (p) => ({ ...p, users: [{ name: 'ops', groups: [], sshKeys: [], passwordHash: "$6$x$y'" }] }), ['users.0.passwordHash']],
  ['a clear password where a hash belongs', (p) => ({ ...p, rootPasswordHash: 'hunter2' }), ['rootPasswordHash']],
  ['a package that closes %packages', (p) => ({ ...p, packages: ['vim', '%end'] }), ['packages.1']],
  ['a disk path with $(…)', (p) => ({ ...p, disks: p.disks.map((d, i) => (i ? d : { ...d, path: '/dev/disk/by-id/x$(reboot)' })) }), ['disks.0.path']],
  ['a mountpoint with a systemd specifier', (p) => ({ ...p, storage: { ...p.storage, data: [{ disk: 'data0', mount: '/srv/%h', fstype: 'xfs' }] } }), ['storage.data.0.mount']],
  ['a time zone with a backtick', (p) => ({ ...p, timezone: 'UTC`reboot`' }), ['timezone']],
  ['a repo URL with a space', (p) => ({ ...p, repos: [{ name: 'r', baseurl: 'http://x/ --install' }] }), ['repos.0.baseurl']],
  ['ARM64 on BIOS (ARM64 boots GRUB from UEFI; the schema refuses it since issue 18)', (p) => ({ ...p, arch: 'aarch64', firmware: 'bios' }), ['firmware']],
  ['an Ignition unit name with a line break', (p) => ({ ...p, ignition: { version: '3.3.0', files: [], units: [{ name: 'a.service\nx', enabled: true }] } }), ['ignition.units.0.name']],
];


t.test('the base profile and the examples are clean', async (t) => {
  t.same(lintProfile(profile()), []);
  t.same(lintMachine(machine(), profile()), []);
  for (const { machine: m, profile: p } of await examples()) {
    t.same(lintProfile(p), [], p.name);
    t.same(lintMachine(m, p), [], m.name);
  }
});

for (const [name, over, paths] of profileCases)
  t.test(`profile: ${name}`, async (t) => {
    const problems = lintProfile(profile(over));
    t.same(problems.map((p) => p.path), paths, problems.map((p) => p.message).join('; '));
  });

for (const [name, edit, paths] of storedProfileCases)
  t.test(`stored profile: ${name}`, async (t) => {
    const problems = lintProfile(edit(profile()) as P);
    t.same(problems.map((p) => p.path), paths, problems.map((p) => p.message).join('; '));
  });


const fcos = (over: Partial<ProfileInput>) =>
  profile({ os: 'fcos', storage: { layout: 'single', disks: ['sys0'], volumes: [{ name: 'root', mount: '/' }] }, ...over });
const fcosCases: Array<[string, Partial<ProfileInput>, string[]]> = [
  ['RAID1', { storage: { layout: 'raid1', disks: ['sys0', 'sys1'], volumes: [{ name: 'root', mount: '/' }] } }, ['storage.layout']],
  ['an extra volume', { storage: { layout: 'single', disks: ['sys0'], volumes: [{ name: 'root', mount: '/' }, { name: 'var', mount: '/var', sizeGiB: 1 }] } }, ['storage.volumes.1.mount']],
  ['data outside /var', { storage: { layout: 'single', disks: ['sys0'], volumes: [{ name: 'root', mount: '/' }], data: [{ disk: 'data0', mount: '/srv' }] } }, ['storage.data.0.mount']],
  ['a bond', network({ interfaces: twoNics, bonds: [{ ...bond, ipv4: 'dhcp' }] }), ['network.bonds']],
  ['a static NIC', network({ interfaces: [{ role: 'data0', ipv4: 'static' }] }), ['network.interfaces.0.ipv4']],
];
for (const [name, over, paths] of fcosCases)
  t.test(`fcos profile: ${name}`, async (t) => {
    t.same(lintProfile(fcos(over)).map((p) => p.path), paths);
  });

const staticProfile = profile(network({ interfaces: [{ role: 'data0', ipv4: 'static' }] }));
const twoRoles = profile(network({ interfaces: [{ role: 'data0', ipv4: 'dhcp' }, { role: 'data1' }] }));
const gw = { address: '10.0.10.21/24', gateway: '10.0.10.1' };
const machineCases: Array<[string, Partial<MachineInput>, ReturnType<typeof profile>, string[]]> = [
  ['a role without a MAC', { macs: ['52:54:00:00:00:01'] }, twoRoles, ['nics.data1']],
  ['a mapping for a role the profile lacks', { nics: { data7: '52:54:00:00:00:01' } }, profile(), ['nics.data7']],
  ['a static device without an address', {}, staticProfile, ['ipv4']],
  ['a static address without gateway', { ipv4: { address: '10.0.10.21/24' } }, staticProfile, ['ipv4.gateway']],
  ['a gateway outside the subnet', { ipv4: { ...gw, gateway: '10.0.11.1' } }, staticProfile, ['ipv4.gateway']],
  ['an address but no static device', { ipv4: gw }, profile(), ['ipv4']],
];
type M = ReturnType<typeof machine>;
const storedMachineCases: Array<[string, (m: M) => unknown, string[]]> = [
  ['an unsafe console parameter', (m) => ({ ...m, params: { console: 'ttyS0 init=/bin/sh' } }), ['params.console']],
  ['a console with ${…}', (m) => ({ ...m, params: { console: 'ttyS0${x}' } }), ['params.console']],
  ['a parameter with a line break', (m) => ({ ...m, params: { rack: 'a1\n%pre' } }), ['params.rack']],
];
for (const [name, over, p, paths] of machineCases)
  t.test(`machine: ${name}`, async (t) => {
    t.same(lintMachine(machine(over), p).map((x) => x.path), paths);
  });
for (const [name, edit, paths] of storedMachineCases)
  t.test(`stored machine: ${name}`, async (t) => {
    t.same(lintMachine(edit(machine()) as M, profile()).map((x) => x.path), paths);
  });

t.test('assertRenderable gathers profile, machine and converger key problems', async (t) => {
  const ctx = ctxFor(machine(), staticProfile, { convergerPublicKey: 'not a key' });
  const err = t.throws(() => assertRenderable(ctx)) as RenderError;
  t.type(err, RenderError);
  t.same(err.problems.map((p) => p.path), ['ipv4', 'convergerPublicKey']);
});

t.test('a cabled slot without a box: stored without MACs, but nothing renders for it', async (t) => {
  const slot = machine({ macs: [], cabling: { data0: { switch: 'sw-a3', port: 'Ethernet1/12' } } });
  t.same(lintMachine(slot, profile()), [], 'the machine itself is fine: its roles are mapped when a box comes');
  const err = t.throws(() => assertRenderable(ctxFor(slot, profile()))) as RenderError;
  t.same(err.problems.map((p) => p.path), ['macs']);
  t.match(err.problems[0].message, /no box in this slot yet/);
});

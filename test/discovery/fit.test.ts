import t from 'tap';
import { assignNics, checkFit } from '../../server/discovery/fit.js';
import { Inventory } from '../../server/model/hardware.js';
import { Profile } from '../../server/model/profile.js';

const GiB = 2 ** 30;
const BY_PATH0 = '/dev/disk/by-path/pci-0000:3b:00.0-scsi-0:0:0:0';

const report = (patch: Record<string, unknown> = {}) =>
  Inventory.parse({
    firmware: { mode: 'uefi' },
    cpu: { architecture: 'x86_64', count: 8 },
    disks: [
      {
        name: 'sda',
        sizeBytes: 20 * GiB,
        wwn: '0x5000C500A1B2C3D4',
        byPath: 'pci-0000:3b:00.0-scsi-0:0:0:0',
        byId: ['scsi-35000c500a1b2c3d4', 'ata-SSD_S1'],
      },
    ],
    interfaces: [{ name: 'eno1', mac: '52:54:00:00:00:01', speedMbps: 1000, carrier: true }],
    bootMac: '52:54:00:00:00:01',
    ...patch,
  });

const profile = (patch: Record<string, unknown> = {}) =>
  Profile.parse({
    name: 'p1',
    os: 'rocky-9',
    firmware: 'uefi',
    disks: [{ name: 'sys0', path: BY_PATH0 }],
    storage: { disks: ['sys0'], volumes: [{ name: 'root', mount: '/', grow: true }] },
    ...patch,
  });

const disks = (...list: { name: string; path: string; sizeGiB?: number }[]) => ({ disks: list, storage: { disks: [list[0].name], volumes: [{ name: 'root', mount: '/', grow: true }] } });
const roles = (...interfaces: Record<string, unknown>[]) => ({ network: { interfaces } });

t.test('a profile that fits has no problems', async (t) => {
  t.same(checkFit(profile(), report()), []);
  t.same(checkFit(profile(disks({ name: 'sys0', path: BY_PATH0, sizeGiB: 20 })), report()), [], 'exactly the size it needs');
});

t.test('disks: stable paths are looked up on the machine', async (t) => {
  const table: [string, Record<string, unknown>, Record<string, unknown>, string | undefined][] = [
    ['by-path, bare link', disks({ name: 'sys0', path: BY_PATH0 }), {}, undefined],
    [
      'by-path, whole link',
      disks({ name: 'sys0', path: BY_PATH0 }),
      { disks: [{ name: 'sda', byPath: BY_PATH0 }] },
      undefined,
    ],
    [
      'by-path listed in byId',
      disks({ name: 'sys0', path: '/dev/disk/by-path/pci-0000:00:1f.2-ata-1' }),
      { disks: [{ name: 'sda', byId: ['/dev/disk/by-path/pci-0000:00:1f.2-ata-1'] }] },
      undefined,
    ],
    [
      'by-path missing',
      disks({ name: 'sys1', path: '/dev/disk/by-path/pci-0000:3b:00.0-scsi-0:0:1:0' }),
      {},
      'disks.sys1: /dev/disk/by-path/pci-0000:3b:00.0-scsi-0:0:1:0 not on this machine; it has by-path pci-0000:3b:00.0-scsi-0:0:0:0 only',
    ],
    [
      'by-path missing, no by-path links',
      disks({ name: 'sys0', path: BY_PATH0 }),
      { disks: [{ name: 'sda', byId: ['ata-SSD_S1'] }] },
      `disks.sys0: ${BY_PATH0} not on this machine; it has no by-path links`,
    ],
    ['by-id in byId', disks({ name: 'sys0', path: '/dev/disk/by-id/ata-SSD_S1' }), {}, undefined],
    [
      'by-id whole link in byId',
      disks({ name: 'sys0', path: '/dev/disk/by-id/nvme-SAMSUNG_1' }),
      { disks: [{ name: 'nvme0n1', byId: ['/dev/disk/by-id/nvme-SAMSUNG_1'] }] },
      undefined,
    ],
    ['by-id wwn from the wwn field', disks({ name: 'sys0', path: '/dev/disk/by-id/wwn-0x5000c500a1b2c3d4' }), {}, undefined],
    [
      'by-id wwn without 0x',
      disks({ name: 'sys0', path: '/dev/disk/by-id/wwn-0x5000c500a1b2c3d4' }),
      { disks: [{ name: 'sda', wwn: '5000c500a1b2c3d4' }] },
      undefined,
    ],
    [
      'by-id missing, listing links and the wwn',
      disks({ name: 'sys0', path: '/dev/disk/by-id/ata-SSD_S9' }),
      {},
      'disks.sys0: /dev/disk/by-id/ata-SSD_S9 not on this machine; it has by-id scsi-35000c500a1b2c3d4, ata-SSD_S1, wwn-0x5000C500A1B2C3D4 only',
    ],
    [
      'by-id wwn of another disk',
      disks({ name: 'sys0', path: '/dev/disk/by-id/wwn-0x5000c500ffffffff' }),
      { disks: [{ name: 'sda', wwn: '0x5000c500a1b2c3d4', byId: ['wwn-0x5000c500a1b2c3d4'] }] },
      'disks.sys0: /dev/disk/by-id/wwn-0x5000c500ffffffff not on this machine; it has by-id wwn-0x5000c500a1b2c3d4 only',
    ],
    [
      'by-id missing, no links',
      disks({ name: 'sys0', path: '/dev/disk/by-id/ata-SSD_S9' }),
      { disks: [{ name: 'sda', byPath: 'pci-0000:00:1f.2-ata-1' }] },
      'disks.sys0: /dev/disk/by-id/ata-SSD_S9 not on this machine; it has no by-id links',
    ],
    [
      'no disks in the report',
      disks({ name: 'sys0', path: BY_PATH0 }),
      { disks: [] },
      'disks.sys0: the hardware report lists no disks',
    ],
    [
      'no disks section either',
      disks({ name: 'sys0', path: '/dev/disk/by-uuid/1234-ABCD' }),
      { disks: undefined },
      'disks.sys0: the hardware report lists no disks',
    ],
    ['by-uuid cannot be checked', disks({ name: 'sys0', path: '/dev/disk/by-uuid/1234-ABCD', sizeGiB: 4000 }), {}, undefined],
    ['by-label cannot be checked', disks({ name: 'sys0', path: '/dev/disk/by-label/root' }), {}, undefined],
    ['by-partuuid cannot be checked', disks({ name: 'sys0', path: '/dev/disk/by-partuuid/abcd-01' }), {}, undefined],
    [
      'too small',
      disks({ name: 'sys0', path: BY_PATH0, sizeGiB: 40 }),
      {},
      `disks.sys0: ${BY_PATH0} is 20.0 GiB; the profile needs 40 GiB`,
    ],
    [
      'just short reads as short',
      disks({ name: 'sys0', path: '/dev/disk/by-id/ata-SSD_S1', sizeGiB: 40 }),
      { disks: [{ name: 'sda', sizeBytes: 40 * GiB - 1, byId: ['ata-SSD_S1'] }] },
      'disks.sys0: /dev/disk/by-id/ata-SSD_S1 is 39.9 GiB; the profile needs 40 GiB',
    ],
    ['size unknown is not a problem', disks({ name: 'sys0', path: BY_PATH0, sizeGiB: 40 }), { disks: [{ name: 'sda', byPath: BY_PATH0 }] }, undefined],
  ];
  for (const [why, p, r, want] of table) {
    const problems = checkFit(profile(p), report(r)).map((x) => `${x.path}: ${x.message}`);
    t.same(problems, want ? [want] : [], why);
  }
});

t.test('disks: each profile disk is checked, the listing is compact', async (t) => {
  const many = Array.from({ length: 11 }, (_, i) => ({ name: `sd${i}`, byPath: `pci-0000:3b:00.0-sas-phy${i}-lun-0` }));
  const problems = checkFit(
    profile(disks({ name: 'sys0', path: '/dev/disk/by-path/pci-0000:3b:00.0-sas-phy3-lun-0' }, { name: 'data', path: '/dev/disk/by-path/pci-0000:3b:00.0-sas-phy99-lun-0' })),
    report({ disks: many }),
  );
  t.same(problems, [
    {
      path: 'disks.data',
      message:
        '/dev/disk/by-path/pci-0000:3b:00.0-sas-phy99-lun-0 not on this machine; it has by-path ' +
        Array.from({ length: 8 }, (_, i) => `pci-0000:3b:00.0-sas-phy${i}-lun-0`).join(', ') +
        ' and 3 more',
    },
  ]);
});

t.test('firmware, Secure Boot and architecture', async (t) => {
  const table: [Record<string, unknown>, Record<string, unknown>, string[]][] = [
    [{ firmware: 'uefi' }, { firmware: { mode: 'bios' } }, ['firmware: the profile installs for uefi; this machine booted bios']],
    [{ firmware: 'bios' }, { firmware: { mode: 'uefi' } }, ['firmware: the profile installs for bios; this machine booted uefi']],
    [{ firmware: 'bios' }, { firmware: { vendor: 'Dell' } }, []],
    [{ firmware: 'bios' }, { firmware: undefined }, []],
    [{ arch: 'x86_64' }, { cpu: { architecture: 'amd64' } }, []],
    [{ arch: 'x86_64' }, { cpu: { architecture: 'X86-64' } }, []],
    [{ arch: 'aarch64' }, { cpu: { architecture: 'arm64' } }, []],
    [{ arch: 'aarch64' }, { cpu: { architecture: 'aarch64' } }, []],
    [{ arch: 'x86_64' }, { cpu: { architecture: 'arm64' } }, ['arch: the profile installs for x86_64; this machine is aarch64']],
    [{ arch: 'aarch64' }, { cpu: { architecture: 'AMD64' } }, ['arch: the profile installs for aarch64; this machine is x86_64']],
    [{}, { cpu: { architecture: 'ppc64le' } }, ['arch: the profile installs for x86_64; this machine is ppc64le']],
    [{ arch: 'aarch64' }, { cpu: { count: 4 } }, []],
    [{ secureBoot: true }, { firmware: { mode: 'uefi', secureBoot: false } }, ['secureBoot: the profile wants Secure Boot on; this machine booted with it off (turn it on in the firmware setup)']],
    [{ secureBoot: true }, { firmware: { mode: 'uefi', secureBoot: true } }, []],
    [{ secureBoot: true }, { firmware: { mode: 'uefi' } }, []],
    [{ secureBoot: false }, { firmware: { mode: 'uefi', secureBoot: true } }, []],
  ];
  for (const [p, r, want] of table)
    t.same(checkFit(profile(p), report(r)).map((x) => `${x.path}: ${x.message}`), want, `${JSON.stringify(p)} on ${JSON.stringify(r)}`);
});

const nic = (name: string, last: number, extra: Record<string, unknown> = {}) => ({ name, mac: `52:54:00:00:00:0${last}`, ...extra });
const fourNics = {
  interfaces: [
    nic('eno1', 1, { speedMbps: 1000, carrier: false, pciAddress: '0000:19:00.0' }),
    nic('eno2', 2, { speedMbps: 10000, carrier: false, pciAddress: '0000:19:00.1' }),
    nic('ens1f0', 3, { speedMbps: 25000, carrier: true, pciAddress: '0000:3B:00.0' }),
    nic('ens1f1', 4, { speedMbps: 25000, carrier: true, pciAddress: '0000:3b:00.1' }),
  ],
  bootMac: '52:54:00:00:00:02',
};

t.test('assignNics: matches first, then the boot NIC, then carrier first in report order', async (t) => {
  const table: [string, Record<string, unknown>[], Record<string, unknown>, Record<string, string>][] = [
    ['one role gets the boot NIC', [{ role: 'data0' }], fourNics, { data0: '52:54:00:00:00:02' }],
    [
      'then NICs with a link, in report order',
      [{ role: 'a' }, { role: 'b' }, { role: 'c' }, { role: 'd' }],
      fourNics,
      { a: '52:54:00:00:00:02', b: '52:54:00:00:00:03', c: '52:54:00:00:00:04', d: '52:54:00:00:00:01' },
    ],
    [
      'a match takes its NIC before the boot NIC goes out',
      [{ role: 'mgmt' }, { role: 'fast', match: { speedMbps: 25000 } }, { role: 'slow', match: { name: 'eno1' } }],
      fourNics,
      { fast: '52:54:00:00:00:03', slow: '52:54:00:00:00:01', mgmt: '52:54:00:00:00:02' },
    ],
    [
      'two roles on one speed take two NICs',
      [{ role: 'f0', match: { speedMbps: 25000 } }, { role: 'f1', match: { speedMbps: 25000 } }],
      fourNics,
      { f0: '52:54:00:00:00:03', f1: '52:54:00:00:00:04' },
    ],
    [
      'pciAddress compares case-insensitively, fields combine',
      [{ role: 'p', match: { pciAddress: '0000:3b:00.0', speedMbps: 25000 } }, { role: 'q', match: { pciAddress: '0000:3b:00.1', name: 'ens1f1' } }],
      fourNics,
      { p: '52:54:00:00:00:03', q: '52:54:00:00:00:04' },
    ],
    [
      'a boot NIC taken by a match is not handed out twice',
      [{ role: 'ten', match: { speedMbps: 10000 } }, { role: 'data0' }],
      fourNics,
      { ten: '52:54:00:00:00:02', data0: '52:54:00:00:00:03' },
    ],
    [
      'a boot MAC not among the NICs is ignored',
      [{ role: 'data0' }, { role: 'data1' }],
      { ...fourNics, bootMac: '52:54:00:00:00:99' },
      { data0: '52:54:00:00:00:03', data1: '52:54:00:00:00:04' },
    ],
    [
      'carrier unknown counts as no link',
      [{ role: 'data0' }, { role: 'data1' }],
      { interfaces: [nic('a', 1), nic('b', 2, { carrier: false }), nic('c', 3, { carrier: true })], bootMac: undefined },
      { data0: '52:54:00:00:00:03', data1: '52:54:00:00:00:01' },
    ],
    [
      'a MAC repeated by a bond is one NIC',
      [{ role: 'data0' }, { role: 'data1' }],
      { interfaces: [nic('eno1', 1, { carrier: true }), nic('bond0', 1, { carrier: true }), nic('eno2', 2)], bootMac: undefined },
      { data0: '52:54:00:00:00:01', data1: '52:54:00:00:00:02' },
    ],
  ];
  for (const [why, interfaces, r, want] of table) {
    const got = assignNics(profile(roles(...interfaces)), report(r));
    t.same('nics' in got && got.nics, want, why);
  }
  const macs = assignNics(profile(roles({ role: 'data0' })), report(fourNics));
  t.same((macs as { macs: string[] }).macs, ['52:54:00:00:00:02', '52:54:00:00:00:01', '52:54:00:00:00:03', '52:54:00:00:00:04'], 'every MAC, the boot MAC first');
});

t.test('NIC problems, through assignNics and checkFit alike', async (t) => {
  const table: [string, Record<string, unknown>[], Record<string, unknown>, string[]][] = [
    [
      'too few NICs',
      [{ role: 'data0' }, { role: 'data1' }],
      {},
      ['network.interfaces: 2 roles (data0, data1) need 2 NICs; this machine has 1 (eno1)'],
    ],
    ['no NICs at all', [{ role: 'data0' }], { interfaces: undefined }, ['network.interfaces: 1 role (data0) needs 1 NIC; this machine has none']],
    [
      'a speed no NIC has',
      [{ role: 'data0' }, { role: 'fast', match: { speedMbps: 25000 } }],
      { interfaces: [nic('eno1', 1, { speedMbps: 1000 }), nic('eno2', 2, { speedMbps: 10000 })] },
      ['network.interfaces.1.match: no NIC with speedMbps 25000; it has eno1 (1000 Mb/s), eno2 (10000 Mb/s)'],
    ],
    [
      'near misses show what was asked',
      [{ role: 'p', match: { name: 'ens9', pciAddress: '0000:5e:00.0' } }],
      { interfaces: [nic('eno1', 1, { pciAddress: '0000:19:00.0' }), nic('eno2', 2)] },
      ['network.interfaces.0.match: no NIC with name ens9, pciAddress 0000:5e:00.0; it has eno1 (0000:19:00.0), eno2 (no PCI address)'],
    ],
    [
      'a name match lists the names',
      [{ role: 'p', match: { name: 'ens9' } }],
      { interfaces: [nic('eno1', 1, { speedMbps: 1000 }), nic('eno2', 2)] },
      ['network.interfaces.0.match: no NIC with name ens9; it has eno1, eno2'],
    ],
    [
      'speed unknown',
      [{ role: 'p', match: { speedMbps: 1000 } }],
      { interfaces: [nic('eno1', 1)] },
      ['network.interfaces.0.match: no NIC with speedMbps 1000; it has eno1 (speed unknown)'],
    ],
    [
      'a match whose only NIC another role took',
      [{ role: 'f0', match: { speedMbps: 25000 } }, { role: 'f1', match: { speedMbps: 25000 } }, { role: 'mgmt' }],
      { interfaces: [nic('eno1', 1, { speedMbps: 1000 }), nic('ens1f0', 3, { speedMbps: 25000 }), nic('eno3', 5)] },
      ['network.interfaces.1.match: every NIC with speedMbps 25000 is taken: ens1f0 by f0'],
    ],
    [
      'count and match problems together',
      [{ role: 'data0' }, { role: 'fast', match: { speedMbps: 25000 } }],
      { interfaces: [nic('eno1', 1, { speedMbps: 1000 })] },
      [
        'network.interfaces: 2 roles (data0, fast) need 2 NICs; this machine has 1 (eno1)',
        'network.interfaces.1.match: no NIC with speedMbps 25000; it has eno1 (1000 Mb/s)',
      ],
    ],
    ['a match with no NICs', [{ role: 'p', match: { speedMbps: 1000 } }], { interfaces: [] }, [
      'network.interfaces: 1 role (p) needs 1 NIC; this machine has none',
      'network.interfaces.0.match: no NIC with speedMbps 1000; the report lists no NICs',
    ]],
  ];
  for (const [why, interfaces, r, want] of table) {
    const p = profile(roles(...interfaces));
    const inv = report({ bootMac: undefined, ...r });
    const got = assignNics(p, inv);
    t.same('problems' in got ? got.problems.map((x) => `${x.path}: ${x.message}`) : got, want, `assignNics: ${why}`);
    t.same(checkFit(p, inv).map((x) => `${x.path}: ${x.message}`), want, `checkFit: ${why}`);
  }

  const manyRoles = Array.from({ length: 10 }, (_, i) => ({ role: `r${i}` }));
  t.same(checkFit(profile(roles(...manyRoles)), report()).map((x) => x.message), [
    '10 roles (r0, r1, r2, r3, r4, r5, r6, r7 and 2 more) need 10 NICs; this machine has 1 (eno1)',
  ]);
});

t.test('checkFit reports every field at once', async (t) => {
  // (an aarch64 profile is UEFI-only since issue 18, so the firmware misfit comes from a BIOS report)
  const p = profile({ arch: 'aarch64', ...roles({ role: 'a' }, { role: 'b' }) });
  t.same(checkFit(p, report({ disks: [], firmware: { mode: 'bios' } })).map((x) => x.path), ['disks.sys0', 'firmware', 'arch', 'network.interfaces']);
});

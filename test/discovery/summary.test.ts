import t from 'tap';
import { summarize } from '../../server/discovery/summary.js';
import { Inventory } from '../../server/model/hardware.js';

const nics = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `eth${i}`, mac: `52:54:00:00:00:${i.toString(16).padStart(2, '0')}` }));

t.test('one line, absent sections skipped', async (t) => {
  const table: [string, unknown, string][] = [
    [
      'a full report',
      {
        system: { manufacturer: 'Dell Inc.', product: 'PowerEdge R640' },
        cpu: { count: 80, architecture: 'x86_64' },
        memory: { totalMiB: 383 * 1024 + 100 },
        disks: [
          { name: 'sda', sizeBytes: 480_103_981_056 },
          { name: 'sdb', sizeBytes: 480_103_981_056 },
        ],
        interfaces: nics(4),
        firmware: { mode: 'uefi' },
      },
      'Dell Inc. PowerEdge R640 · 80 CPUs x86_64 · 383 GiB · 2 disks (480 GB, 480 GB) · 4 NICs · uefi',
    ],
    ['product only, one of each', { system: { product: 'KVM' }, cpu: { count: 1 }, disks: [{ name: 'vda', sizeBytes: 20 * 2 ** 30 }], interfaces: nics(1) }, 'KVM · 1 CPU · 1 disk (21 GB) · 1 NIC'],
    ['architecture without a count', { cpu: { architecture: 'aarch64' }, firmware: { mode: 'bios' } }, 'aarch64 · bios'],
    ['small memory in MiB', { memory: { totalMiB: 512 } }, '512 MiB'],
    ['terabytes, sizes unknown', { disks: [{ name: 'sda', sizeBytes: 3_840_755_982_336 }, { name: 'sdb' }, { name: 'sdc', sizeBytes: 4e12 }] }, '3 disks (3.8 TB, ?, 4 TB)'],
    ['no sizes at all', { disks: [{ name: 'sda' }, { name: 'sdb' }] }, '2 disks'],
    [
      'many disks, a few sizes',
      { disks: Array.from({ length: 24 }, (_, i) => ({ name: `sd${i}`, sizeBytes: 16e12 })) },
      '24 disks (16 TB, 16 TB, 16 TB, 16 TB, …)',
    ],
    ['empty sections are counted', { disks: [], interfaces: [] }, '0 disks · 0 NICs'],
    ['nothing', {}, 'no hardware facts'],
  ];
  for (const [why, report, want] of table) t.equal(summarize(Inventory.parse(report)), want, why);
});

t.test('bounded, whatever the box says', async (t) => {
  const line = summarize(
    Inventory.parse({
      system: { manufacturer: 'M'.repeat(256), product: 'P'.repeat(256) },
      cpu: { count: 4096, architecture: 'A'.repeat(32) },
      memory: { totalMiB: 4 * 1024 * 1024 },
      disks: Array.from({ length: 1024 }, (_, i) => ({ name: `sd${i}`, sizeBytes: 1e15 })),
      interfaces: nics(200),
      firmware: { mode: 'uefi' },
    }),
  );
  t.ok(line.length <= 200, `${line.length} characters`);
  t.match(line, /^M{39}… P{39}… · 4096 CPUs A{15}… · 4096 GiB · 1024 disks \(1000 TB, 1000 TB, 1000 TB, 1000 TB, …\) · 200 NICs · uefi$/);
  const huge = summarize(
    Inventory.parse({
      system: { manufacturer: 'M'.repeat(256), product: 'P'.repeat(256) },
      cpu: { count: 9e15, architecture: 'A'.repeat(32) },
      memory: { totalMiB: 9e15 },
      disks: Array.from({ length: 8 }, (_, i) => ({ name: `sd${i}`, sizeBytes: 9e15 })),
      interfaces: nics(200),
      firmware: { mode: 'uefi' },
    }),
  );
  t.equal(huge.length, 200, 'cut at 200 when even the numbers are absurd');
  t.match(huge, /…$/);
  const loose = Inventory.parse({ system: { product: 'x' } }) as Record<string, unknown>;
  (loose.system as Record<string, unknown>).manufacturer = 'Evil\u001b[31m\u0085Corp';
  t.equal(summarize(loose as Inventory), 'Evil [31m Corp x', 'control characters do not reach the line');
});

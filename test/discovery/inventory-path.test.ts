import t from 'tap';
import { valuesAt } from '../../server/discovery/inventory-path.js';
import { Inventory } from '../../server/model/hardware.js';

const inv = Inventory.parse({
  system: { manufacturer: 'Dell Inc.', product: 'PowerEdge R640', serial: 'ABC1234' },
  cpu: { count: 80, architecture: 'x86_64' },
  disks: [
    { name: 'sda', sizeBytes: 480e9, byId: ['wwn-0x5000c500a1b2c3d4', 'ata-SSD_1'] },
    { name: 'sdb', sizeBytes: 960e9, byId: ['ata-SSD_2'] },
  ],
  interfaces: [
    { name: 'eno1', mac: '52:54:00:00:00:01', speedMbps: 1000, carrier: true, lldp: { systemName: 'sw-a', portId: 'Eth1/1' } },
    { name: 'eno2', mac: '52:54:00:00:00:02', speedMbps: 10000, carrier: false },
    { name: 'eno3', mac: '52:54:00:00:00:03', lldp: { systemName: 'sw-b' } },
  ],
  firmware: { mode: 'uefi' },
  // Unknown fields survive parsing: a newer agent's facts.
  gpus: [{ model: 'A100', count: 4 }, { model: 'A100', count: 2 }],
  nested: [[{ v: 1 }, [{ v: 2 }]], { v: null }],
  tags: [],
});

t.test('dotted keys walk objects and flatten through arrays', async (t) => {
  const table: [string, unknown[]][] = [
    ['system.product', ['PowerEdge R640']],
    ['cpu.count', [80], ],
    ['firmware.mode', ['uefi']],
    ['interfaces.name', ['eno1', 'eno2', 'eno3']],
    ['interfaces.speedMbps', [1000, 10000]],
    ['interfaces.carrier', [true, false]],
    ['interfaces.lldp.systemName', ['sw-a', 'sw-b']],
    ['disks.byId', ['wwn-0x5000c500a1b2c3d4', 'ata-SSD_1', 'ata-SSD_2']],
    ['nested.v', [1, 2]],
  ];
  for (const [key, want] of table) t.same(valuesAt(inv, key), want, key);
});

t.test('count of an array is its length; a real count field wins', async (t) => {
  const table: [string, unknown[]][] = [
    ['disks.count', [2]],
    ['interfaces.count', [3]],
    ['tags.count', [0]],
    ['disks.byId.count', [2, 1]],
    ['gpus.count', [4, 2]],
    ['cpu.count', [80]],
  ];
  for (const [key, want] of table) t.same(valuesAt(inv, key), want, key);
});

t.test('absent keys give nothing, never 0 or a prototype property', async (t) => {
  const bare = Inventory.parse({ bootMac: '52:54:00:00:00:09' });
  for (const key of ['disks.count', 'interfaces.count', 'system.product', 'interfaces.lldp.systemName'])
    t.same(valuesAt(bare, key), [], `bare report: ${key}`);
  for (const key of ['bmc.address', 'system.uuid', 'interfaces.pciAddress', 'constructor', 'system.constructor', 'system.product.length', 'toString', 'disks.length'])
    t.same(valuesAt(inv, key), [], key);
  t.same(valuesAt(inv, 'nested.v'), [1, 2], 'null values are dropped');
  t.same(valuesAt(bare, 'bootMac'), ['52:54:00:00:00:09']);
});

t.test('deeply nested unknown arrays do not overflow the stack', async (t) => {
  let deep: unknown = [{ v: 'bottom' }];
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const hostile = Inventory.parse({}) as Record<string, unknown>;
  hostile.deep = deep;
  t.same(valuesAt(hostile as Inventory, 'deep.v'), ['bottom']);
  t.same(valuesAt(hostile as Inventory, 'deep.count'), [1]);
});

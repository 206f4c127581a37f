/** Module dependency reading and load order for the guest initramfs. */
import t from 'tap';
import { loadOrder, moduleDepends, moduleName } from './lib/kmod.js';

t.test('moduleName folds dashes and strips paths and compression suffixes', async (t) => {
  t.equal(moduleName('kernel/drivers/net/virtio_net.ko'), 'virtio_net');
  t.equal(moduleName('virtio-pci.ko.xz'), 'virtio_pci');
  t.equal(moduleName('net-failover'), 'net_failover');
});

t.test('moduleDepends reads the depends= entry of .modinfo', async (t) => {
  const image = (modinfo: string) => Buffer.concat([Buffer.from('\x7fELF junk'), Buffer.from(`\0license=GPL\0${modinfo}\0name=x\0`)]);
  t.same(moduleDepends(image('depends=virtio,virtio_ring,net_failover')), ['virtio', 'virtio_ring', 'net_failover']);
  t.same(moduleDepends(image('depends=')), []);
  t.same(moduleDepends(image('alias=pci:v*')), [], 'no depends entry');
  t.same(moduleDepends(image('depends=net-failover')), ['net_failover']);
});

t.test('loadOrder puts dependencies first, once, and skips built-ins', async (t) => {
  const graph: Record<string, string[]> = {
    virtio_net: ['net_failover', 'virtio', 'virtio_ring'],
    net_failover: ['failover'],
    failover: [],
    virtio_pci: ['virtio', 'virtio_ring', 'virtio_pci_modern_dev'],
    virtio_pci_modern_dev: [],
    virtio: ['virtio_ring'],
    virtio_ring: [],
  };
  const order = loadOrder(['virtio_pci', 'virtio-net'], (n) => graph[n], (n) => n === 'failover');
  t.same(order, ['virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci', 'net_failover', 'virtio_net']);
  t.throws(() => loadOrder(['a'], (n) => (n === 'a' ? ['b'] : ['a']), () => false), /cycle: a → b → a/);
});

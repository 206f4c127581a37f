import t from 'tap';
import { RenderEnv } from '../../server/render/env.js';
import { renderIpxe } from '../../server/render/ipxe.js';
import { ctxFor, examples, URLS } from './helpers.js';

const env = new RenderEnv();

t.test('error script: one echo per message line, nothing iPXE would expand or split', async (t) => {
  const script = renderIpxe(
    {
      kind: 'error',
      name: 'web-01',
      mac: '52-54-00-12-34-56',
      problems: [{ path: 'render', message: 'storage.volumes.2.mount: mountpoint /var is already used\nipv4: needs "gateway" ${evil} && reboot || x; y' }],
      urls: URLS,
    },
    env,
  );
  const echoes = script.split('\n').filter((l) => l.startsWith('echo kickstand:   '));
  t.same(echoes, [
    'echo kickstand:   render: storage.volumes.2.mount: mountpoint /var is already used',
    'echo kickstand:   ipv4: needs `gateway` __evil_ __ reboot __ x_ y',
  ]);
  t.match(script, 'chain --replace --autofree http://10.0.0.1:8080/boot/ipxe?mac=52:54:00:12:34:56 || goto wait');
});

t.test('unknown script prints the canonical MAC, or a sanitized string', async (t) => {
  t.match(renderIpxe({ kind: 'unknown', mac: '5254.0012.3456', urls: URLS }, env), 'MAC 52:54:00:12:34:56');
  t.match(renderIpxe({ kind: 'unknown', mac: '${x}', urls: URLS }, env), 'MAC __x_');
});

// EDK2's BdsDxe (OVMF, and the firmware of many servers) shows its boot menu when a boot option
// returns success, and goes on to the next option only on an error: a bare `exit` (status 0) stops
// a UEFI machine in the menu instead of booting its disk (seen in test/e2e/bmc-reinstall).
t.test('local boot: BIOS hands over to the first disk, UEFI returns to the firmware with an error status', async (t) => {
  t.match(renderIpxe({ kind: 'local', name: 'a', firmware: 'bios', urls: URLS }, env), /sanboot --no-describe --drive 0x80 \|\| goto failed\n/);
  const uefi = renderIpxe({ kind: 'local', name: 'a', firmware: 'uefi', urls: URLS }, env);
  t.notMatch(uefi, 'sanboot');
  t.match(uefi, /\nexit 1\n$/);
  t.match(renderIpxe({ kind: 'local', name: 'a', firmware: 'bios', urls: URLS }, env), /\nexit 1\n$/, 'BIOS without a bootable disk falls through too');
  t.match(renderIpxe({ kind: 'unknown', mac: '52:54:00:12:34:56', urls: URLS }, env), /\nexit 1\n$/, 'an unknown machine goes on to its next boot device');
});

t.test('fcos install: coreos-installer arguments with stable disk path and token', async (t) => {
  const edge = (await examples()).find((e) => e.machine.name === 'edge-01')!;
  const kernel = renderIpxe({ kind: 'install', ctx: ctxFor(edge.machine, edge.profile, { token: 'tokF' }) }, env)
    .split('\n')
    .find((l) => l.startsWith('kernel '))!
    .split(' ');
  for (const arg of [
    'http://10.0.0.1:8080/boot/assets/fcos/kernel',
    'initrd=initramfs.img',
    'coreos.live.rootfs_url=http://10.0.0.1:8080/boot/assets/fcos/rootfs.img',
    'coreos.inst.install_dev=/dev/disk/by-id/virtio-edge-sys0',
    'coreos.inst.ignition_url=http://10.0.0.1:8080/boot/ignition?token=tokF',
    'ignition.firstboot',
    'ignition.platform.id=metal',
  ])
    t.ok(kernel.includes(arg), arg);
});

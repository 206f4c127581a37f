import t from 'tap';
import { Config } from '../../server/config/schema.js';
import { RenderEnv } from '../../server/render/env.js';
import { renderIpxe } from '../../server/render/ipxe.js';
import { appStreamUrl, renderKickstart } from '../../server/render/kickstart.js';
import { RenderError } from '../../server/model/errors.js';
import { ctxFor, machine, profile } from './helpers.js';

const env = new RenderEnv();
const lines = (ks: string, prefix: string) => ks.split('\n').filter((l) => l.startsWith(prefix));
const MAC1 = '52:54:00:00:00:01';
const MAC2 = '52:54:00:00:00:02';
const D0 = '/dev/disk/by-id/virtio-sys0';
const D1 = '/dev/disk/by-id/virtio-sys1';

t.test('BIOS RAID1: biosboot on each disk, /boot and the PV mirrored', async (t) => {
  const p = profile({
    firmware: 'bios',
    storage: { layout: 'raid1', disks: ['sys0', 'sys1'], volumes: [{ name: 'root', mount: '/', sizeGiB: 10, grow: true }] },
  });
  const ks = renderKickstart(ctxFor(machine(), p), env);
  t.same(lines(ks, 'part biosboot'), [`part biosboot --fstype=biosboot --size=1 --ondisk=${D0}`, `part biosboot --fstype=biosboot --size=1 --ondisk=${D1}`]);
  t.same(lines(ks, 'raid '), ['raid /boot --device=boot --level=RAID1 --fstype=xfs raid.21 raid.22', 'raid pv.01 --device=pv01 --level=RAID1 raid.31 raid.32']);
  t.same(lines(ks, 'ignoredisk'), [`ignoredisk --only-use=${D0},${D1}`]);
  t.same(lines(ks, 'bootloader'), [`bootloader --boot-drive=${D0}`]);
  t.notMatch(ks, '/boot/efi');
});

t.test('UEFI single disk with a data disk', async (t) => {
  const p = profile({
    storage: {
      layout: 'single',
      disks: ['sys0'],
      volumes: [{ name: 'root', mount: '/', sizeGiB: 10, grow: true }],
      data: [{ disk: 'data0', mount: '/srv', fstype: 'ext4', label: 'srv' }],
    },
  });
  const ks = renderKickstart(ctxFor(machine(), p), env);
  t.same(lines(ks, 'part '), [
    `part /boot/efi --fstype=efi --size=600 --ondisk=${D0}`,
    `part /boot --fstype=xfs --size=1024 --ondisk=${D0}`,
    `part pv.01 --size=1 --grow --ondisk=${D0}`,
    `part /srv --fstype=ext4 --size=1 --grow --ondisk=/dev/disk/by-id/virtio-data0 --label=srv`,
  ]);
  t.same(lines(ks, 'clearpart'), [`clearpart --all --initlabel --drives=${D0},/dev/disk/by-id/virtio-data0`]);
  t.same(lines(ks, 'logvol'), ['logvol / --vgname=vg_root --name=root --fstype=xfs --size=10240 --grow']);
});

t.test('static boot NIC: kickstart line by MAC and ip= on the installer command line', async (t) => {
  const p = profile({ network: { interfaces: [{ role: 'data0', ipv4: 'static', mtu: 1500 }, { role: 'data1', ipv4: 'dhcp' }], dns: [], search: ['example.net'] } });
  const m = machine({ ipv4: { address: '10.0.10.21/24', gateway: '10.0.10.1', dns: ['10.0.0.53'] }, params: { console: 'ttyS0,115200n8' } });
  const ctx = ctxFor(m, p);
  const ks = renderKickstart(ctx, env);
  t.same(lines(ks, 'network'), [
    'network --hostname=m1',
    `network --device=${MAC1} --bootproto=static --ip=10.0.10.21 --netmask=255.255.255.0 --gateway=10.0.10.1 --nameserver=10.0.0.53 --ipv4-dns-search=example.net --mtu=1500 --onboot=yes`,
    `network --device=${MAC2} --bootproto=dhcp --onboot=yes`,
  ]);
  t.same(lines(ks, 'bootloader'), [`bootloader --boot-drive=${D0} --append="console=ttyS0,115200n8"`]);
  const ipxe = renderIpxe({ kind: 'install', ctx }, env);
  const kernel = lines(ipxe, 'kernel ')[0];
  for (const arg of [
    'ip=10.0.10.21::10.0.10.1:255.255.255.0:m1:data0:none',
    'nameserver=10.0.0.53',
    `ifname=data0:${MAC1}`,
    `ifname=data1:${MAC2}`,
    'BOOTIF=01-52-54-00-00-00-01',
    'inst.ks=http://10.0.0.1:8080/boot/kickstart?token=',
    'inst.ks.sendmac',
    'inst.repo=http://dl.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os',
    'console=ttyS0,115200n8',
    'initrd=initrd.img',
  ])
    t.ok(kernel.split(' ').some((a) => a.startsWith(arg)), arg);
});

t.test('DHCP boot NIC behind a bond: ip=<role>:dhcp, the bond carries the VLAN', async (t) => {
  const p = profile({
    network: {
      interfaces: [{ role: 'data0' }, { role: 'data1' }],
      bonds: [{ name: 'bond0', mode: 'active-backup', members: ['data0', 'data1'], options: 'miimon=100,primary=data0' }],
      vlans: [{ id: 42, parent: 'bond0', ipv4: 'dhcp' }],
    },
  });
  const ctx = ctxFor(machine(), p);
  t.same(lines(renderKickstart(ctx, env), 'network --device'), [
    'network --device=bond0 --bondslaves=data0,data1 --bondopts=mode=active-backup,miimon=100,primary=data0 --vlanid=42 --bootproto=dhcp --onboot=yes',
  ]);
  t.match(lines(renderIpxe({ kind: 'install', ctx }, env), 'kernel ')[0], ' ip=data0:dhcp');
});

t.test('bridge over a bond, VLAN on a plain NIC', async (t) => {
  const p = profile({
    network: {
      interfaces: [{ role: 'data0' }, { role: 'data1' }, { role: 'mgmt0' }],
      bonds: [{ name: 'bond0', mode: '802.3ad', members: ['data0', 'data1'] }],
      bridges: [{ name: 'br0', members: ['bond0'], ipv4: 'dhcp' }],
      vlans: [{ id: 7, parent: 'mgmt0', ipv4: 'dhcp' }],
    },
  });
  const m = machine({ macs: [MAC1, MAC2, '52:54:00:00:00:03'] });
  t.same(lines(renderKickstart(ctxFor(m, p), env), 'network --device'), [
    'network --device=52:54:00:00:00:03 --vlanid=7 --bootproto=dhcp --onboot=yes',
    'network --device=bond0 --bondslaves=data0,data1 --bondopts=mode=802.3ad --noipv4 --onboot=yes',
    'network --device=br0 --bridgeslaves=bond0 --bootproto=dhcp --onboot=yes',
  ]);
});

t.test('accounts: locked root without a hash, users with hash and keys, converger key for root', async (t) => {
  const p = profile({ users: [{ name: 'ops', groups: ['wheel', 'adm'], passwordHash: '$6$x$y', sshKeys: ['ssh-ed25519 AAAA1 a', 'ssh-rsa AAAA2 b'] }] });
  const ctx = ctxFor(machine(), p);
  const ks = renderKickstart(ctx, env);
  t.same(lines(ks, 'rootpw'), ['rootpw --lock']);
  t.same(lines(ks, 'user '), ['user --name=ops --groups=wheel,adm --iscrypted --password=$6$x$y']);
  t.same(lines(ks, 'sshkey'), [
    `sshkey --username=root "${ctx.convergerPublicKey}"`,
    'sshkey --username=ops "ssh-ed25519 AAAA1 a"',
    'sshkey --username=ops "ssh-rsa AAAA2 b"',
  ]);
});

t.test('repositories: config mirror, AppStream beside BaseOS, profile repos', async (t) => {
  const config = Config.parse({ mirrors: { 'rocky-9': 'http://127.0.0.1:8081/rocky/9.5/BaseOS/x86_64/os' } });
  const p = profile({ repos: [{ name: 'epel', baseurl: 'http://127.0.0.1:8081/epel/9/x86_64' }], ntp: ['10.0.0.123', 'ntp2.example.net'], packages: ['jq'] });
  const ks = renderKickstart({ ...ctxFor(machine(), p), config }, env);
  t.same(lines(ks, 'url '), ['url --url=http://127.0.0.1:8081/rocky/9.5/BaseOS/x86_64/os']);
  t.same(lines(ks, 'repo '), [
    'repo --name=appstream --baseurl=http://127.0.0.1:8081/rocky/9.5/AppStream/x86_64/os',
    'repo --name=epel --baseurl=http://127.0.0.1:8081/epel/9/x86_64 --install',
  ]);
  t.same(lines(ks, 'timesource'), ['timesource --ntp-server=10.0.0.123', 'timesource --ntp-server=ntp2.example.net']);
  t.match(ks, /%packages\n@core\njq\n%end/);
  t.equal(appStreamUrl('http://127.0.0.1/custom/os'), null, 'no guess for other layouts');
});

t.test('callbacks carry the (URL-encoded) token; built and hostkeys fail the install when lost', async (t) => {
  const ks = renderKickstart(ctxFor(machine(), profile(), { token: 'a+b/c=' }), env);
  const token = 'a%2Bb%2Fc%3D';
  for (const event of ['start', 'progress', 'hostkeys', 'built', 'failed'])
    t.match(ks, `'http://10.0.0.1:8080/boot/callback/${event}?token=${token}`, event);
  t.match(ks, /%pre[^\n]*\n(?:(?!%end)[^\n]*\n)*kickstand_report '[^']*\/start\?/, 'start reported in %pre');
  t.match(ks, /%post --erroronfail[^\n]*\n(?:(?!%end)[^\n]*\n)*ls \/etc\/ssh\/ssh_host_\*_key\.pub [^\n]*\|\| ssh-keygen -A\n/, 'host keys generated if absent, in an erroronfail %post');
  const sections = ks.split(/^(?=%)/m).filter((s) => s.startsWith('%post'));
  t.match(sections.at(-1)!, /^%post --erroronfail/, 'the final %post is --erroronfail');
  t.match(sections.at(-1)!, /\/built\?/, 'and reports built');
  t.match(ks, /%onerror\n(?:(?!%end)[^\n]*\n)*tail [^\n]*anaconda\.log[^\n]*\n[^\n]*\/failed\?/, '%onerror sends the log tail as failed');
  t.match(ks, "curl -fsS --retry 10 --retry-connrefused --retry-delay 2 -X POST -H 'Content-Type: text/plain' --data-binary \"@$2\" \"$1\"", 'callbacks ride out a failover: refused connections are retried for ~20 s');
});

t.test('an FCOS profile is not a kickstart', async (t) => {
  const p = profile({ os: 'fcos', storage: { layout: 'single', disks: ['sys0'], volumes: [{ name: 'root', mount: '/' }] } });
  t.throws(() => renderKickstart(ctxFor(machine(), p), env), RenderError);
});

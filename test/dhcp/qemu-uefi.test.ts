import t from 'tap';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, sh } from './netns.js';

/**
 * OVMF's native UEFI PXE client (QEMU NIC without its iPXE ROM: `romfile=`), TCG. It must be
 * classified as UEFI x64 and fetch ipxe.efi over TFTP from kickstand's next-server, in proxy
 * mode (beside a site dnsmasq) and in authoritative mode. A python listener on UDP 69 records
 * the TFTP read request.
 */

const lab = new Lab('qu');
t.teardown(() => lab.cleanup());
const work = lab.scratch();

const S = lab.ns('s');
const SITE = lab.ns('d');
sh(`ip -n ${S} link add br0 type bridge && ip -n ${S} link set br0 up && ip -n ${S} addr add 10.67.0.1/24 dev br0`);
lab.link(S, 'site', SITE, 'eth0');
sh(`ip -n ${S} link set site master br0 && ip -n ${SITE} addr add 10.67.0.2/24 dev eth0`);
sh(`ip -n ${S} tuntap add dev tap0 mode tap && ip -n ${S} link set tap0 master br0 && ip -n ${S} link set tap0 up`);
writeFileSync(join(work, 'site.conf'), `port=0\ninterface=eth0\nbind-interfaces\ndhcp-range=10.67.0.50,10.67.0.90,255.255.255.0,1h\ndhcp-leasefile=${work}/site.leases\nno-ping\n`);

const tftp = lab.background(S, [
  'python3', '-u', '-c',
  "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('10.67.0.1', 69))\nwhile True:\n    d, a = s.recvfrom(600)\n    print(a[0], d[2:].split(b'\\0')[0].decode(), flush=True)",
]);
let rrq = '';
tftp.stdout!.on('data', (d) => (rrq += d));

async function pxeBoot(mac: string, timeoutMs: number): Promise<string | undefined> {
  const vars = join(work, `vars-${mac.replace(/:/g, '')}.fd`);
  copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
  const before = rrq.length;
  const qemu = lab.background(S, [
    'qemu-system-x86_64', '-machine', 'q35', '-accel', 'tcg', '-m', '512', '-nographic', '-vga', 'none', '-nodefaults',
    '-serial', 'none', '-monitor', 'none',
    '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd', '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
    '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no',
    '-device', `virtio-net-pci,netdev=n0,mac=${mac},bootindex=1,romfile=`, '-boot', 'n',
  ]);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && rrq.length === before) await new Promise((r) => setTimeout(r, 200));
  qemu.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  return rrq.slice(before).trim() || undefined;
}

const machine = (name: string, mac: string) => ({ name, macs: [mac], netboot: 'install', state: 'pxe-booting', firmware: 'uefi', arch: 'x86_64', os: 'rocky-9' });

t.test('proxy: native UEFI PXE takes ipxe.efi from the proxy offer', async (t) => {
  const site = lab.background(SITE, ['dnsmasq', '-k', `--conf-file=${join(work, 'site.conf')}`]);
  const server = await lab.dhcpServer(S, { dhcp: { mode: 'proxy', interface: 'br0' }, publicUrl: 'http://10.67.0.1:8080', machines: [machine('uefi-p', '52:54:00:67:00:01')] });
  const got = await pxeBoot('52:54:00:67:00:01', 50_000);
  t.match(got, /^10\.67\.0\.(5\d|[6-8]\d|90) ipxe\.efi$/, 'TFTP read of ipxe.efi from a site-leased address');
  t.match(server.events.find((e) => e.data?.outcome === 'proxy-offer'), { machine: 'uefi-p', data: { firmware: 'uefi-x64', boot: 'ipxe.efi', bootKind: 'tftp' } });
  server.proc.kill('SIGTERM');
  site.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
});

t.test('authoritative: native UEFI PXE leases and fetches ipxe.efi', async (t) => {
  const server = await lab.dhcpServer(S, {
    dhcp: { mode: 'authoritative', interface: 'br0', subnets: [{ cidr: '10.67.0.0/24', range: ['10.67.0.100', '10.67.0.150'] }] },
    publicUrl: 'http://10.67.0.1:8080',
    machines: [machine('uefi-a', '52:54:00:67:00:02')],
  });
  const got = await pxeBoot('52:54:00:67:00:02', 50_000);
  t.equal(got, '10.67.0.100 ipxe.efi', 'TFTP read of ipxe.efi from the address kickstand leased');
  t.match(server.events.find((e) => e.data?.reply === 'ACK'), { machine: 'uefi-a', ip: '10.67.0.100', data: { firmware: 'uefi-x64', boot: 'ipxe.efi' } });
  t.equal(await server.ipToMac('10.67.0.100'), '52:54:00:67:00:02');
});

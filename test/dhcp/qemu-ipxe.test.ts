import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, sh } from './netns.js';

/**
 * QEMU's own iPXE (the NIC ROM) against kickstand, BIOS, TCG:
 * 1. authoritative: iPXE's DHCP must finish fast (no ping, no-pxedhcp sent) and it must chain
 *    to <publicUrl>/boot/ipxe?mac=…;
 * 2. proxy: dnsmasq plays the site DHCP server (addresses only) on the same bridge, kickstand
 *    adds the boot information with its address-less OFFER on 67.
 * A python http.server stands in for kickstand's HTTP side and logs the GET.
 */

const lab = new Lab('qi');
const work = mkdtempSync(join(tmpdir(), 'ks-qemu-ipxe-'));
t.teardown(async () => {
  await lab.cleanup();
  rmSync(work, { recursive: true, force: true });
});

const S = lab.ns('s');
const SITE = lab.ns('d');
sh(`ip -n ${S} link add br0 type bridge && ip -n ${S} link set br0 up && ip -n ${S} addr add 10.66.0.1/24 dev br0 && ip -n ${S} addr add fd66::1/64 dev br0 nodad`);
lab.link(S, 'site', SITE, 'eth0');
sh(`ip -n ${S} link set site master br0 && ip -n ${SITE} addr add 10.66.0.2/24 dev eth0 && ip -n ${SITE} addr add fd66::2/64 dev eth0 nodad`);
sh(`ip -n ${S} tuntap add dev tap0 mode tap && ip -n ${S} link set tap0 master br0 && ip -n ${S} link set tap0 up`);

const http = lab.background(S, ['python3', '-u', '-m', 'http.server', '--bind', '10.66.0.1', '--directory', work, '8080']);
let httpLog = '';
http.stderr!.on('data', (d) => (httpLog += d));
// iPXE waits ~10 s for IPv6 autoconfiguration unless a router advertisement arrives.
writeFileSync(join(work, 'ra.conf'), `port=0\ninterface=eth0\nbind-interfaces\nenable-ra\ndhcp-range=::,constructor:eth0,ra-only\nra-param=eth0,10,0\n`);
writeFileSync(
  join(work, 'site.conf'),
  `port=0\ninterface=eth0\nbind-interfaces\ndhcp-range=10.66.0.50,10.66.0.90,255.255.255.0,1h\ndhcp-leasefile=${work}/site.leases\nno-ping\nenable-ra\ndhcp-range=::,constructor:eth0,ra-only\nra-param=eth0,10,0\n`,
);

async function bootUntilGet(mac: string, timeoutMs: number): Promise<boolean> {
  const qemu = lab.background(S, [
    'qemu-system-x86_64', '-machine', 'q35', '-accel', 'tcg', '-m', '256', '-nographic', '-vga', 'none', '-nodefaults',
    '-serial', 'none', '-monitor', 'none', '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no',
    '-device', `virtio-net-pci,netdev=n0,mac=${mac},bootindex=1`, '-boot', 'n',
  ]);
  // iPXE percent-encodes the colons of the query when it rebuilds the URI.
  const want = `GET /boot/ipxe?mac=${encodeURIComponent(mac)}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !httpLog.includes(want)) await new Promise((r) => setTimeout(r, 200));
  qemu.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  return httpLog.includes(want);
}

t.test('authoritative: iPXE leases quickly and chains to its script', async (t) => {
  const ra = lab.background(SITE, ['dnsmasq', '-k', `--conf-file=${join(work, 'ra.conf')}`]);
  const server = await lab.dhcpServer(S, {
    dhcp: { mode: 'authoritative', interface: 'br0', subnets: [{ cidr: '10.66.0.0/24', range: ['10.66.0.100', '10.66.0.150'] }] },
    publicUrl: 'http://10.66.0.1:8080',
    machines: [{ name: 'vm-a', macs: ['52:54:00:66:00:01'], netboot: 'install', state: 'pxe-booting', firmware: 'bios', arch: 'x86_64', os: 'rocky-9' }],
  });
  t.ok(await bootUntilGet('52:54:00:66:00:01', 45_000), 'iPXE fetched /boot/ipxe?mac=… from the publicUrl');
  const offer = server.events.find((e) => e.data?.reply === 'OFFER');
  const ack = server.events.find((e) => e.data?.reply === 'ACK');
  t.match(offer, { machine: 'vm-a', data: { bootKind: 'ipxe-script', firmware: 'bios' } });
  t.ok(offer && ack && ack.at - offer.at < 1000, `DISCOVER→ACK took ${ack && offer ? ack.at - offer.at : '?'} ms (iPXE did not wait for ProxyDHCP)`);
  server.proc.kill('SIGTERM');
  ra.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
});

t.test('proxy beside a site DHCP server: iPXE boots from the proxy offer', async (t) => {
  lab.background(SITE, ['dnsmasq', '-k', `--conf-file=${join(work, 'site.conf')}`]);
  const server = await lab.dhcpServer(S, {
    dhcp: { mode: 'proxy', interface: 'br0' },
    publicUrl: 'http://10.66.0.1:8080',
    machines: [{ name: 'vm-b', macs: ['52:54:00:66:00:02'], netboot: 'local', state: 'ready', firmware: 'bios', arch: 'x86_64', os: 'rocky-9' }],
  });
  t.ok(await bootUntilGet('52:54:00:66:00:02', 45_000), 'iPXE took its boot URL from the proxy');
  t.match(server.events.find((e) => e.data?.outcome === 'proxy-offer'), { machine: 'vm-b', data: { port: 67, reply: 'OFFER' } });
  // This iPXE takes the boot file from the proxy OFFER and skips the 4011 round trip (the
  // 4011 ACK is covered by the decision tests; a PXE ROM would send it).
  const leased = readFileSync(join(work, 'site.leases'), 'utf8').split(/\s+/)[2];
  t.match(leased, /^10\.66\.0\.\d+$/, 'the address came from the site server');
  t.equal(await server.ipToMac(leased), '52:54:00:66:00:02', 'address learned from the REQUEST to the site server');
});

import t from 'tap';
import { Lab, sh } from './netns.js';
import { PxeSegment } from './pxe-segment.js';

/**
 * QEMU's own iPXE (the NIC ROM) against kickstand, BIOS, TCG:
 * 1. authoritative: iPXE's DHCP must finish fast (no ping, no-pxedhcp sent) and it must chain
 *    to <publicUrl>/boot/ipxe?mac=…;
 * 2. proxy: dnsmasq plays the site DHCP server (addresses only) on the same bridge, kickstand
 *    adds the boot information with its address-less OFFER on 67.
 * A python http.server stands in for kickstand's HTTP side and logs the GET.
 */

const lab = new Lab('qi');
t.teardown(() => lab.cleanup());

const S = lab.ns('s');
const SITE = lab.ns('d');
sh(`ip -n ${S} link add br0 type bridge && ip -n ${S} link set br0 up && ip -n ${S} addr add 10.66.0.1/24 dev br0 && ip -n ${S} addr add fd66::1/64 dev br0 nodad`);
lab.link(S, 'site', SITE, 'eth0');
sh(`ip -n ${S} link set site master br0 && ip -n ${SITE} addr add 10.66.0.2/24 dev eth0 && ip -n ${SITE} addr add fd66::2/64 dev eth0 nodad`);
const segment = new PxeSegment(lab, lab.scratch());
segment.tap(S);
segment.http(S, '10.66.0.1');

t.test('authoritative: iPXE leases quickly and chains to its script', async (t) => {
  const ra = segment.site(SITE, 'eth0');
  const server = await lab.dhcpServer(S, {
    dhcp: { mode: 'authoritative', interface: 'br0', subnets: [{ cidr: '10.66.0.0/24', range: ['10.66.0.100', '10.66.0.150'] }] },
    publicUrl: 'http://10.66.0.1:8080',
    machines: [{ name: 'vm-a', macs: ['52:54:00:66:00:01'], netboot: 'install', state: 'pxe-booting', firmware: 'bios', arch: 'x86_64', os: 'rocky-9' }],
  });
  t.ok(await segment.bootUntilScript(S, '52:54:00:66:00:01', 45_000), 'iPXE fetched /boot/ipxe?mac=… from the publicUrl');
  const offer = server.events.find((e) => e.data?.reply === 'OFFER');
  const ack = server.events.find((e) => e.data?.reply === 'ACK');
  t.match(offer, { machine: 'vm-a', data: { bootKind: 'ipxe-script', firmware: 'bios' } });
  t.ok(offer && ack && ack.at - offer.at < 1000, `DISCOVER→ACK took ${ack && offer ? ack.at - offer.at : '?'} ms (iPXE did not wait for ProxyDHCP)`);
  server.proc.kill('SIGTERM');
  ra.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
});

t.test('proxy beside a site DHCP server: iPXE boots from the proxy offer', async (t) => {
  segment.site(SITE, 'eth0', ['10.66.0.50', '10.66.0.90']);
  const server = await lab.dhcpServer(S, {
    dhcp: { mode: 'proxy', interface: 'br0' },
    publicUrl: 'http://10.66.0.1:8080',
    machines: [{ name: 'vm-b', macs: ['52:54:00:66:00:02'], netboot: 'local', state: 'ready', firmware: 'bios', arch: 'x86_64', os: 'rocky-9' }],
  });
  t.ok(await segment.bootUntilScript(S, '52:54:00:66:00:02', 45_000), 'iPXE took its boot URL from the proxy');
  t.match(server.events.find((e) => e.data?.outcome === 'proxy-offer'), { machine: 'vm-b', data: { port: 67, reply: 'OFFER' } });
  // This iPXE takes the boot file from the proxy OFFER and skips the 4011 round trip (the
  // 4011 ACK is covered by the decision tests; a PXE ROM would send it).
  const leased = segment.siteLease();
  t.match(leased, /^10\.66\.0\.\d+$/, 'the address came from the site server');
  t.equal(await server.ipToMac(leased!), '52:54:00:66:00:02', 'address learned from the REQUEST to the site server');
});

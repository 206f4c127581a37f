import t from 'tap';
import { postgresForTest } from '../helpers/postgres.js';
import { Lab, sh } from './netns.js';
import { PxeSegment } from './pxe-segment.js';
import { killHolder, socketUrl } from './standby.js';

/**
 * Proxy DHCP from two kickstand instances on one PostgreSQL, beside the site's DHCP server, with
 * QEMU's iPXE as the PXE client (a machine mid-install):
 *
 *   rack-a (10.70.0.1) ──┐
 *   rack-b (10.70.0.2) ──┼── br0 (10.70.0.10: http.server for /boot) ── tap0: QEMU iPXE
 *   site   (10.70.0.3) ──┘   dnsmasq: addresses only
 *
 * The segment (10.70.0.0/24, the network of the instances' interface) is answered by one instance
 * at a time: rack-a sends the proxy OFFER, rack-b (dhcp.standby) stays silent but learns the
 * address the site server gave the machine (its install token goes there, whichever instance
 * serves /boot). rack-a is killed with SIGKILL: rack-b answers the segment within about a second,
 * and the machine netboots again through rack-b's offer.
 */

const pg = await postgresForTest(t);
if (pg) {
  const url = await socketUrl(t, pg);
  const lab = new Lab('ps');
  t.teardown(() => lab.cleanup());
  const A = lab.ns('a');
  const B = lab.ns('b');
  const SITE = lab.ns('d');
  const BR = lab.bridge(lab.ns('br'), [A, B, SITE]);
  sh(`ip -n ${A} addr add 10.70.0.1/24 dev lan && ip -n ${B} addr add 10.70.0.2/24 dev lan`);
  sh(`ip -n ${SITE} addr add 10.70.0.3/24 dev lan && ip -n ${SITE} addr add fd70::3/64 dev lan nodad`);
  sh(`ip -n ${BR} addr add 10.70.0.10/24 dev br0`);
  const segment = new PxeSegment(lab, lab.scratch());
  segment.tap(BR);
  segment.http(BR, '10.70.0.10');
  segment.site(SITE, 'lan', ['10.70.0.50', '10.70.0.90']);

  const SEGMENT = '10.70.0.0/24';
  const MAC = '52:54:00:70:00:01';
  const spec = (instance: string, standby: boolean) => ({
    dhcp: { mode: 'proxy', interface: 'lan', standby },
    publicUrl: 'http://10.70.0.10:8080',
    machines: [{ name: 'vm-p', macs: [MAC], netboot: 'install', state: 'pxe-booting', firmware: 'bios', arch: 'x86_64', os: 'rocky-9' }],
    postgres: { url, instance },
  });

  t.test('one instance answers ProxyDHCP on the segment; after kill -9 its standby does, and knows where the install token goes', async (t) => {
    const a = await lab.dhcpServer(A, spec('rack-a', false));
    await t.rejects(lab.dhcpServer(B, spec('rack-c', false)), /DHCP subnet 10\.70\.0\.0\/24 is answered by another kickstand instance/, 'a second instance on the segment without dhcp.standby refuses to start');
    const b = await lab.dhcpServer(B, spec('rack-b', true));
    t.same(await a.roles(), { answering: [SEGMENT], standby: [] }, "rack-a holds the segment (its interface's network)");
    t.same(await b.roles(), { answering: [], standby: [SEGMENT] }, 'rack-b waits for it');

    t.ok(await segment.bootUntilScript(BR, MAC, 60_000), 'iPXE chained to its script');
    t.match(a.events.find((e) => e.data?.outcome === 'proxy-offer'), { machine: 'vm-p', data: { port: 67, reply: 'OFFER', bootKind: 'ipxe-script' } }, 'from rack-a’s proxy OFFER');
    const bStats = await b.stats();
    t.ok(bStats.received >= 2 && bStats.dropped.standby === bStats.received, `rack-b heard the broadcasts and answered none (${JSON.stringify(bStats)})`);
    t.same(bStats.replies, {}, 'no proxy OFFER from the standby');
    const leased = segment.siteLease();
    t.match(leased, /^10\.70\.0\.([5-8]\d|90)$/, `the site server gave the address (${leased})`);
    t.equal(await b.dhcpAddressOf(MAC), leased, 'rack-b learned it from the broadcast REQUEST all the same: it hands the install token to that address, before a takeover and after');

    const took = await killHolder(a, b, SEGMENT);
    t.ok(took < 3_000, `rack-b answers the segment ${took} ms after the kill`);
    t.same(await b.roles(), { answering: [SEGMENT], standby: [] });

    const offersBefore = (await b.stats()).replies.OFFER ?? 0;
    t.ok(await segment.bootUntilScript(BR, MAC, 60_000), 'the machine netboots again and chains to its script');
    t.ok(((await b.stats()).replies.OFFER ?? 0) > offersBefore, 'through rack-b’s proxy OFFER');
    t.match(b.events.find((e) => e.data?.outcome === 'proxy-offer'), { machine: 'vm-p', data: { reply: 'OFFER' } });
    t.equal(await b.dhcpAddressOf(MAC), segment.siteLease(), 'and rack-b knows its address');
    b.proc.kill('SIGTERM');
    await new Promise((r) => b.proc.once('exit', r));
  });
}

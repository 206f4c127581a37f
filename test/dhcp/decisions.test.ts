import t from 'tap';
import { classify, DEFAULT_BOOT_FILES } from '../../server/dhcp/classify.js';
import { readClientInfo } from '../../server/dhcp/client-info.js';
import { parseDhcp, serializeDhcp, type DhcpPacket } from '../../server/dhcp/codec.js';
import { createHandler, type HandlerOptions } from '../../server/dhcp/handler.js';
import { LeaseTable } from '../../server/dhcp/lease-table.js';
import { bufToIp, decodeSubOptions, Opt } from '../../server/dhcp/options.js';
import { Pool } from '../../server/dhcp/pool.js';
import { DECLINE_HOLD_MS } from '../../server/dhcp/authoritative.js';
import type { BootView } from '../../server/model/boot.js';
import { BIOS, HTTP, IPXE, request, requestPacket, UEFI, type RequestSpec } from './packets.js';

const SERVER = '10.60.0.1';
const URL = 'http://10.60.0.1:8080';
const KNOWN = '52:54:00:00:00:01';
const RESERVED = '52:54:00:00:00:02';
const STRANGER = '52:54:00:00:00:99';

const machines = new Map<string, BootView>([
  [KNOWN, { name: 'web-01', macs: [KNOWN], netboot: 'local', state: 'ready', firmware: 'bios', arch: 'x86_64', os: 'rocky-9' }],
  [RESERVED, { name: 'db-01', macs: [RESERVED], netboot: 'install', state: 'pxe-booting', firmware: 'uefi', arch: 'x86_64', os: 'rocky-9', ipv4: { address: '10.60.0.200/24', gateway: '10.60.0.254', dns: ['10.60.0.53'] } }],
]);

function info(spec: Omit<RequestSpec, 'type' | 'mac'>) {
  return readClientInfo(requestPacket({ type: 'DISCOVER', mac: KNOWN, ...spec }));
}

t.test('classification table', async (t) => {
  const opts = { publicUrl: URL + '/', bootFiles: DEFAULT_BOOT_FILES };
  const cases: Array<[string, Omit<RequestSpec, 'type' | 'mac'>, unknown]> = [
    ['BIOS PXE', BIOS, { kind: 'tftp', firmware: 'bios', file: 'undionly.kpxe' }],
    ['UEFI x64 (7)', UEFI, { kind: 'tftp', firmware: 'uefi-x64', file: 'ipxe.efi' }],
    ['UEFI x64 (9)', { arch: 9, vendor: 'PXEClient:Arch:00009:UNDI:003016' }, { kind: 'tftp', firmware: 'uefi-x64', file: 'ipxe.efi' }],
    ['arch only in vendor class', { vendor: 'PXEClient:Arch:00007:UNDI:003016' }, { kind: 'tftp', firmware: 'uefi-x64' }],
    ['ARM64 UEFI', { arch: 11, vendor: 'PXEClient:Arch:00011:UNDI:003000' }, { kind: 'tftp', firmware: 'uefi-arm64', file: 'ipxe-arm64.efi' }],
    ['UEFI HTTP boot', HTTP, { kind: 'http', firmware: 'uefi-x64', url: `${URL}/boot/firmware/ipxe.efi` }],
    ['iPXE by user class', { ...BIOS, userClass: 'iPXE' }, { kind: 'ipxe-script', url: `${URL}/boot/ipxe?mac=${KNOWN}` }],
    ['iPXE by option 175 only', { ...UEFI, ipxe175: true }, { kind: 'ipxe-script', firmware: 'uefi-x64', url: `${URL}/boot/ipxe?mac=${KNOWN}` }],
  ];
  for (const [name, spec, want] of cases) t.match(classify(info(spec), KNOWN, opts).boot, want, name);
  t.match(classify(info(UEFI), KNOWN, { ...opts, bootFiles: { ...DEFAULT_BOOT_FILES, 'uefi-x64': 'snponly.efi' } }).boot, { file: 'snponly.efi' }, 'snponly.efi configurable');
  t.match(classify(info({ arch: 10, vendor: 'PXEClient:Arch:00010' }), KNOWN, opts), { boot: undefined, reason: 'unsupported-arch', arch: 10 });
  t.match(classify(info({}), KNOWN, opts), { boot: undefined, reason: 'not-netboot' }, 'plain DHCP client');
});

function base(over: Partial<HandlerOptions> = {}): HandlerOptions {
  return {
    mode: 'proxy',
    serverAddress: SERVER,
    tftpServer: SERVER,
    publicUrl: URL,
    bootFiles: DEFAULT_BOOT_FILES,
    unknownMachines: 'ignore',
    ports: { server: 67, proxy: 4011, client: 68 },
    directory: { byMac: async (mac) => machines.get(mac) },
    pools: [],
    // The relays these tests go through (10.99.0.1: a relay for a subnet we do not serve).
    relays: ['10.61.0.1', '10.99.0.1'],
    ...over,
  };
}

function reply(ex: { replies: Array<{ packet: DhcpPacket }> }): DhcpPacket {
  t.equal(ex.replies.length, 1, 'one reply');
  // Through the wire format, as the client would see it.
  const r = parseDhcp(serializeDhcp(ex.replies[0].packet));
  if (!r.ok) throw new Error(r.error.detail);
  return r.packet;
}
const opt = (p: DhcpPacket, code: number) => p.options.get(code);
const str = (p: DhcpPacket, code: number) => opt(p, code)?.toString('latin1');
const BCAST = { address: '255.255.255.255', port: 68 };
const FROM0 = { address: '0.0.0.0', port: 68 };

t.test('proxy mode', async (t) => {
  const h = createHandler(base());
  const ex = await h(request({ type: 'DISCOVER', mac: KNOWN, ...BIOS }), 67, FROM0);
  const p = reply(ex);
  t.same(ex.replies[0].to, BCAST);
  t.equal(str(p, Opt.MESSAGE_TYPE), '\x02', 'OFFER');
  t.equal(p.yiaddr, '0.0.0.0', 'no address from a proxy');
  t.equal(p.siaddr, SERVER);
  t.equal(bufToIp(opt(p, Opt.SERVER_ID)!), SERVER);
  t.equal(str(p, Opt.VENDOR_CLASS), 'PXEClient');
  t.same(decodeSubOptions(opt(p, Opt.VENDOR_SPECIFIC)!)?.map(([c, d]) => [c, [...d]]), [[6, [8]]], '43: discovery control 8');
  t.equal(opt(p, Opt.CLIENT_UUID)?.toString('hex'), '00' + '11'.repeat(16), '97 echoed');
  t.equal(p.file, 'undionly.kpxe');
  t.equal(str(p, Opt.BOOTFILE), 'undionly.kpxe');
  t.match(ex.event, { kind: 'dhcp', mac: KNOWN, machine: 'web-01', data: { firmware: 'bios', boot: 'undionly.kpxe', reply: 'OFFER' } });

  const onReq = await h(request({ type: 'REQUEST', mac: KNOWN, ...BIOS, requested: '10.60.0.77', serverId: '10.60.0.2' }), 67, FROM0);
  t.equal(onReq.replies.length, 0, 'REQUEST to the site server is not ours on 67');
  t.same(onReq.learned, { ip: '10.60.0.77', mac: KNOWN }, 'but its address is learned');

  const from = { address: '10.60.0.77', port: 68 };
  const ack = await h(request({ type: 'REQUEST', mac: KNOWN, ...UEFI, ciaddr: '10.60.0.77' }), 4011, from);
  const a = reply(ack);
  t.same(ack.replies[0].to, from, '4011 answers go back to the sender');
  t.equal(str(a, Opt.MESSAGE_TYPE), '\x05', 'ACK');
  t.equal(a.file, 'ipxe.efi');
  t.equal(a.ciaddr, '10.60.0.77');

  const ipxe = reply(await h(request({ type: 'DISCOVER', mac: KNOWN, ...IPXE }), 67, FROM0));
  t.equal(str(ipxe, Opt.BOOTFILE), `${URL}/boot/ipxe?mac=${KNOWN}`);
  t.equal(str(ipxe, Opt.VENDOR_CLASS), 'PXEClient', 'iPXE recognises proxy offers by PXEClient');
  t.same(decodeSubOptions(opt(ipxe, Opt.IPXE_ENCAP)!)?.map(([c, d]) => [c, [...d]]), [[176, [1]]], 'no-pxedhcp');

  const http = reply(await h(request({ type: 'DISCOVER', mac: KNOWN, ...HTTP }), 67, FROM0));
  t.equal(str(http, Opt.VENDOR_CLASS), 'HTTPClient', 'HTTP boot offers echo HTTPClient');
  t.equal(str(http, Opt.BOOTFILE), `${URL}/boot/firmware/ipxe.efi`);

  t.match(await h(request({ type: 'DISCOVER', mac: KNOWN }), 67, FROM0), { replies: [], dropped: 'not-netboot' }, 'plain clients are the site server’s');
  t.match(await h(request({ type: 'DISCOVER', mac: STRANGER, ...BIOS }), 67, FROM0), { replies: [], dropped: 'unknown-mac' });
  const local = createHandler(base({ unknownMachines: 'local' }));
  const u = await local(request({ type: 'DISCOVER', mac: STRANGER, ...IPXE }), 67, FROM0);
  t.equal(str(reply(u), Opt.BOOTFILE), `${URL}/boot/ipxe?mac=${STRANGER}`, 'unknown → its (local boot) script');
  t.notOk(u.event?.machine);
  const discover = createHandler(base({ unknownMachines: 'discover' }));
  const d = await discover(request({ type: 'DISCOVER', mac: STRANGER, ...BIOS }), 67, FROM0);
  t.equal(reply(d).file, 'undionly.kpxe', 'discover: an unknown PXE ROM is chainloaded into iPXE');
  const di = await discover(request({ type: 'DISCOVER', mac: STRANGER, ...IPXE }), 67, FROM0);
  t.equal(str(reply(di), Opt.BOOTFILE), `${URL}/boot/ipxe?mac=${STRANGER}`, 'discover: unknown → its (discovery) script');
});

t.test('proxy answers relayed PXE requests at the relay', async (t) => {
  const h = createHandler(base());
  const agent = Buffer.from([1, 4, 0x65, 0x74, 0x68, 0x31, 2, 2, 0xab, 0xcd]);
  const ex = await h(request({ type: 'DISCOVER', mac: KNOWN, ...BIOS, giaddr: '10.61.0.1', relayAgent: agent }), 67, { address: '10.61.0.1', port: 67 });
  const p = reply(ex);
  t.same(ex.replies[0].to, { address: '10.61.0.1', port: 67 });
  t.equal(p.giaddr, '10.61.0.1');
  t.ok(opt(p, Opt.RELAY_AGENT)?.equals(agent), '82 echoed');
  t.equal([...p.options.keys()].at(-1), Opt.RELAY_AGENT, '82 is the last option');
});

t.test('proxy, several instances: a standby answers nothing the segment hears, but learns addresses; 4011 is answered', async (t) => {
  let holder = false;
  const asked: string[] = [];
  const lookups: string[] = [];
  const h = createHandler(
    base({
      segment: '10.60.0.0/24',
      answers: (segment) => (asked.push(segment), holder),
      directory: { byMac: async (mac) => (lookups.push(mac), machines.get(mac)) },
    }),
  );
  t.match(await h(request({ type: 'DISCOVER', mac: KNOWN, ...BIOS }), 67, FROM0), { replies: [], dropped: 'standby', request: 'DISCOVER' }, 'no proxy OFFER from a standby');
  t.same(asked, ['10.60.0.0/24'], 'asked about its segment');
  const req = await h(request({ type: 'REQUEST', mac: KNOWN, ...BIOS, requested: '10.60.0.77', serverId: '10.60.0.2' }), 67, FROM0);
  t.match(req, { replies: [], dropped: 'standby' });
  t.same(req.learned, { ip: '10.60.0.77', mac: KNOWN }, "the address the site server gave is learned all the same (the install token goes there, whoever answers after a takeover)");
  t.same(lookups, [], 'before any store read');
  const from = { address: '10.60.0.77', port: 68 };
  const ack = await h(request({ type: 'REQUEST', mac: KNOWN, ...BIOS, ciaddr: '10.60.0.77' }), 4011, from);
  t.equal(reply(ack).file, 'undionly.kpxe', 'a request on 4011 was sent to this host alone: answered');
  t.same(asked, ['10.60.0.0/24', '10.60.0.0/24'], 'without asking');
  holder = true;
  t.equal(reply(await h(request({ type: 'DISCOVER', mac: KNOWN, ...BIOS }), 67, FROM0)).yiaddr, '0.0.0.0', 'holding the segment: the proxy OFFER');
});

const POOLS = [
  { cidr: '10.60.0.0/24', range: ['10.60.0.100', '10.60.0.102'] as [string, string], gateway: '10.60.0.254', dns: ['10.60.0.53'], domain: 'lab.example', leaseSeconds: 600 },
  { cidr: '10.61.0.0/24', range: ['10.61.0.10', '10.61.0.20'] as [string, string], dns: [], leaseSeconds: 3600 },
];

async function authoritative(unknownMachines: 'ignore' | 'local' = 'local') {
  const clock = { now: 1_000_000 };
  const leases = new LeaseTable();
  const h = createHandler(base({ mode: 'authoritative', unknownMachines, pools: POOLS.map((s) => new Pool(s)), leases, now: () => clock.now }));
  return { h, leases, clock };
}

t.test('authoritative: DORA, options, lease state', async (t) => {
  const { h, leases, clock } = await authoritative();
  const o = reply(await h(request({ type: 'DISCOVER', mac: KNOWN, ...BIOS }), 67, FROM0));
  t.equal(o.yiaddr, '10.60.0.100');
  t.equal(bufToIp(opt(o, Opt.SUBNET_MASK)!), '255.255.255.0');
  t.equal(bufToIp(opt(o, Opt.ROUTER)!), '10.60.0.254');
  t.equal(bufToIp(opt(o, Opt.DNS)!), '10.60.0.53');
  t.equal(str(o, Opt.DOMAIN), 'lab.example');
  t.equal(str(o, Opt.HOSTNAME), 'web-01');
  t.equal(opt(o, Opt.LEASE_TIME)!.readUInt32BE(0), 600);
  t.equal(o.file, 'undionly.kpxe', 'boot info in the same offer');
  t.match(leases.byMac(KNOWN), { ip: '10.60.0.100', state: 'offered' });
  t.equal(leases.takeDirty().length, 1, 'offer recorded for the commit');

  const ackEx = await h(request({ type: 'REQUEST', mac: KNOWN, ...BIOS, serverId: SERVER, requested: '10.60.0.100' }), 67, FROM0);
  const a = reply(ackEx);
  t.equal(str(a, Opt.MESSAGE_TYPE), '\x05');
  t.equal(a.yiaddr, '10.60.0.100');
  t.same(ackEx.learned, { ip: '10.60.0.100', mac: KNOWN });
  t.match(leases.byMac(KNOWN), { state: 'bound', expiresAt: clock.now + 600_000, subnet: '10.60.0.0/24' });

  const again = reply(await h(request({ type: 'DISCOVER', mac: KNOWN }), 67, FROM0));
  t.equal(again.yiaddr, '10.60.0.100', 'same MAC, same address');
  t.match(leases.byMac(KNOWN), { state: 'bound' }, 're-offer does not downgrade the bound lease');
  const other = reply(await h(request({ type: 'DISCOVER', mac: STRANGER }), 67, FROM0));
  t.equal(other.yiaddr, '10.60.0.101', 'another MAC, another address');
  t.notOk(other.file, 'plain DHCP client gets no boot file');

  const renew = await h(request({ type: 'REQUEST', mac: KNOWN, ciaddr: '10.60.0.100' }), 67, { address: '10.60.0.100', port: 68 });
  t.same(renew.replies[0].to, { address: '10.60.0.100', port: 68 }, 'renewal answered by unicast');
  t.equal(reply(renew).yiaddr, '10.60.0.100');
});

t.test('authoritative: NAKs', async (t) => {
  const { h } = await authoritative();
  await h(request({ type: 'DISCOVER', mac: KNOWN }), 67, FROM0);
  const wrongServer = await h(request({ type: 'REQUEST', mac: KNOWN, serverId: '10.60.0.9', requested: '10.60.0.100' }), 67, FROM0);
  t.equal(str(reply(wrongServer), Opt.MESSAGE_TYPE), '\x06', 'wrong server id');
  t.same(wrongServer.replies[0].to, BCAST);
  t.match(wrongServer.event, { level: 'warn', data: { outcome: 'nak-wrong-server' } });
  const otherSubnet = await h(request({ type: 'REQUEST', mac: KNOWN, requested: '192.168.1.5' }), 67, FROM0);
  t.match(otherSubnet, { event: { data: { outcome: 'nak-wrong-subnet' } } });
  t.equal(reply(otherSubnet).yiaddr, '0.0.0.0');
  await h(request({ type: 'DISCOVER', mac: STRANGER }), 67, FROM0);
  await h(request({ type: 'REQUEST', mac: STRANGER, serverId: SERVER, requested: '10.60.0.101' }), 67, FROM0);
  const taken = await h(request({ type: 'REQUEST', mac: KNOWN, requested: '10.60.0.101' }), 67, FROM0);
  t.match(taken, { event: { data: { outcome: 'nak-wrong-address' } } }, 'INIT-REBOOT to an address bound to another MAC');
  const selecting = await h(request({ type: 'REQUEST', mac: KNOWN, serverId: SERVER, requested: '10.60.0.102' }), 67, FROM0);
  t.match(selecting, { event: { data: { outcome: 'nak-wrong-address' } } }, 'SELECTING an address never offered');
  const rebootFree = await h(request({ type: 'REQUEST', mac: '52:54:00:00:00:50', requested: '10.60.0.102' }), 67, FROM0);
  t.equal(str(reply(rebootFree), Opt.MESSAGE_TYPE), '\x06', 'INIT-REBOOT to a free address that is not its lease: NAK (it goes back to DISCOVER)');
  t.match(rebootFree, { event: { level: 'warn', data: { outcome: 'nak-wrong-address' } } });
});

t.test('authoritative: reservations from the inventory', async (t) => {
  const { h } = await authoritative('ignore');
  const o = reply(await h(request({ type: 'DISCOVER', mac: RESERVED, ...UEFI, requested: '10.60.0.101' }), 67, FROM0));
  t.equal(o.yiaddr, '10.60.0.200', 'reservation wins over requested and pool');
  t.equal(bufToIp(opt(o, Opt.ROUTER)!), '10.60.0.254');
  t.equal(o.file, 'ipxe.efi');
  t.equal(reply(await h(request({ type: 'REQUEST', mac: RESERVED, serverId: SERVER, requested: '10.60.0.200' }), 67, FROM0)).yiaddr, '10.60.0.200');
  const elsewhere = await h(request({ type: 'REQUEST', mac: RESERVED, requested: '10.60.0.100' }), 67, FROM0);
  t.equal(str(reply(elsewhere), Opt.MESSAGE_TYPE), '\x06', 'a reserved machine asking for another address is sent back');
  t.match(await h(request({ type: 'DISCOVER', mac: STRANGER }), 67, FROM0), { replies: [], dropped: 'unknown-mac' }, 'ignore: unknown MACs get nothing');
});

t.test('authoritative: DECLINE, RELEASE, expiry, exhaustion, INFORM', async (t) => {
  const { h, leases, clock } = await authoritative();
  const macs = ['02:00:00:00:00:01', '02:00:00:00:00:02', '02:00:00:00:00:03', '02:00:00:00:00:04'];
  for (const mac of macs.slice(0, 3)) {
    const ip = reply(await h(request({ type: 'DISCOVER', mac }), 67, FROM0)).yiaddr;
    await h(request({ type: 'REQUEST', mac, serverId: SERVER, requested: ip }), 67, FROM0);
  }
  t.match(await h(request({ type: 'DISCOVER', mac: macs[3] }), 67, FROM0), { replies: [], dropped: 'pool-exhausted' });

  const decl = await h(request({ type: 'DECLINE', mac: macs[0], serverId: SERVER, requested: '10.60.0.100' }), 67, FROM0);
  t.equal(decl.replies.length, 0, 'no reply to DECLINE');
  t.match(decl.event, { level: 'warn', data: { outcome: 'declined' } });
  t.match(leases.byMac(macs[0]), { state: 'declined', expiresAt: clock.now + DECLINE_HOLD_MS });
  t.match(await h(request({ type: 'DISCOVER', mac: macs[3] }), 67, FROM0), { dropped: 'pool-exhausted' }, 'declined address stays out');

  await h(request({ type: 'RELEASE', mac: macs[1], serverId: SERVER, ciaddr: '10.60.0.101' }), 67, { address: '10.60.0.101', port: 68 });
  t.match(leases.byMac(macs[1]), { state: 'released' });
  t.equal(reply(await h(request({ type: 'DISCOVER', mac: macs[3] }), 67, FROM0)).yiaddr, '10.60.0.101', 'released address reused');

  clock.now += 601_000;
  const late = reply(await h(request({ type: 'DISCOVER', mac: '02:00:00:00:00:05' }), 67, FROM0));
  t.equal(late.yiaddr, '10.60.0.102', 'after expiry the bound address is free again');

  const inf = await h(request({ type: 'INFORM', mac: KNOWN, ciaddr: '10.60.0.33', ...IPXE }), 67, { address: '10.60.0.33', port: 68 });
  const i = reply(inf);
  t.same(inf.replies[0].to, { address: '10.60.0.33', port: 68 });
  t.equal(i.yiaddr, '0.0.0.0');
  t.equal(i.ciaddr, '10.60.0.33');
  t.notOk(opt(i, Opt.LEASE_TIME), 'no lease time in an INFORM ACK');
  t.equal(str(i, Opt.BOOTFILE), `${URL}/boot/ipxe?mac=${KNOWN}`);
  t.ok(opt(i, Opt.IPXE_ENCAP), 'iPXE gets no-pxedhcp');
});

t.test('authoritative: relayed requests', async (t) => {
  const { h } = await authoritative();
  const agent = Buffer.from([1, 2, 0x70, 0x31]);
  const ex = await h(request({ type: 'DISCOVER', mac: KNOWN, ...BIOS, giaddr: '10.61.0.1', relayAgent: agent }), 67, { address: '10.61.0.1', port: 67 });
  const p = reply(ex);
  t.equal(p.yiaddr, '10.61.0.10', 'subnet chosen by giaddr');
  t.same(ex.replies[0].to, { address: '10.61.0.1', port: 67 });
  t.ok(opt(p, Opt.RELAY_AGENT)?.equals(agent));
  const nak = await h(request({ type: 'REQUEST', mac: KNOWN, giaddr: '10.61.0.1', requested: '10.61.0.99', serverId: '1.2.3.4' }), 67, { address: '10.61.0.1', port: 67 });
  t.equal(reply(nak).flags & 0x8000, 0x8000, 'relayed NAK carries the broadcast bit');
  t.match(await h(request({ type: 'DISCOVER', mac: KNOWN, giaddr: '10.99.0.1' }), 67, { address: '10.99.0.1', port: 67 }), { replies: [], dropped: 'no-subnet' });
});

t.test('requests the handler must not answer', async (t) => {
  const h = createHandler(base({ unknownMachines: 'local' }));
  t.match(await h(Buffer.from('garbage'), 67, FROM0), { replies: [], dropped: 'malformed-too-short' });
  const asReply = requestPacket({ type: 'DISCOVER', mac: KNOWN, ...BIOS });
  asReply.op = 2;
  t.match(await h(serializeDhcp(asReply), 67, FROM0), { dropped: 'not-a-request' });
  const noType = requestPacket({ type: 'DISCOVER', mac: KNOWN, ...BIOS });
  noType.options.delete(Opt.MESSAGE_TYPE);
  t.match(await h(serializeDhcp(noType), 67, FROM0), { dropped: 'no-message-type' });
  const loop = requestPacket({ type: 'DISCOVER', mac: KNOWN, ...BIOS, giaddr: '10.60.0.5' });
  loop.hops = 17;
  t.match(await h(serializeDhcp(loop), 67, FROM0), { dropped: 'too-many-hops' });
  const failing = createHandler(base({ directory: { byMac: async () => { throw new Error('db down'); } } }));
  t.match(await failing(request({ type: 'DISCOVER', mac: KNOWN, ...BIOS }), 67, FROM0), { dropped: 'directory-error' });
});

import t from 'tap';
import { DECLINE_HOLD_MS, OFFER_HOLD_MS } from '../../server/dhcp/authoritative.js';
import { DEFAULT_BOOT_FILES } from '../../server/dhcp/classify.js';
import { parseDhcp, serializeDhcp, type DhcpPacket } from '../../server/dhcp/codec.js';
import { createHandler, type Exchange, type HandlerOptions } from '../../server/dhcp/handler.js';
import { LeaseTable } from '../../server/dhcp/lease-table.js';
import { encodeSubOptions, Opt } from '../../server/dhcp/options.js';
import { Pool } from '../../server/dhcp/pool.js';
import type { BootView } from '../../server/model/boot.js';
import type { Lease } from '../../server/model/lease.js';
import { BIOS, request, requestPacket, type RequestSpec } from './packets.js';

/**
 * Authoritative mode against requests a client is not entitled to make: RELEASE, DECLINE and
 * INIT-REBOOT for someone else's address, relayed requests through relays nobody configured, and
 * floods of made-up MACs or client identifiers against the pool the inventory boots from.
 */

const SERVER = '10.70.0.1';
const KNOWN = '52:54:00:70:00:01';
const VICTIM = '02:00:00:70:00:01';
const ATTACKER = '02:00:00:70:00:66';
const machines = new Map<string, BootView>([[KNOWN, { name: 'web-01', macs: [KNOWN], netboot: 'local', state: 'ready', firmware: 'bios', arch: 'x86_64', os: 'rocky-9' }]]);
const FROM0 = { address: '0.0.0.0', port: 68 };
/** DECLINE_WINDOW_MS: a DECLINE answers an ACK within this (clients ARP-probe for 1–3 s). */
const DECLINE_WINDOW_MS = 60_000;

function setup(over: Partial<HandlerOptions> = {}, range: [string, string] = ['10.70.0.100', '10.70.0.119']) {
  const clock = { now: 5_000_000 };
  const leases = new LeaseTable();
  const h = createHandler({
    mode: 'authoritative',
    serverAddress: SERVER,
    tftpServer: SERVER,
    publicUrl: 'http://10.70.0.1:8080',
    bootFiles: DEFAULT_BOOT_FILES,
    unknownMachines: 'local',
    ports: { server: 67, proxy: 4011, client: 68 },
    directory: { byMac: async (mac) => machines.get(mac) },
    pools: [new Pool({ cidr: '10.70.0.0/24', range, dns: [], leaseSeconds: 600 }), new Pool({ cidr: '10.71.0.0/24', range: ['10.71.0.10', '10.71.0.200'], dns: [], leaseSeconds: 600 })],
    leases,
    relays: ['10.71.0.1'],
    limits: { maxLeasesPerClient: 4, unknownLeaseShare: 0.5 },
    now: () => clock.now,
    ...over,
  });
  const send = (spec: RequestSpec, from = FROM0) => h(request(spec), 67, from);
  /** DISCOVER + REQUEST; the bound address, or undefined. */
  const dora = async (mac: string, extra: Partial<RequestSpec> = {}): Promise<string | undefined> => {
    const offer = await send({ type: 'DISCOVER', mac, ...extra });
    if (!offer.replies.length) return undefined;
    const ip = offer.replies[0].packet.yiaddr;
    const ack = await send({ type: 'REQUEST', mac, serverId: SERVER, requested: ip, ...extra });
    return type(ack) === 'ACK' ? ip : undefined;
  };
  return { h, leases, clock, send, dora };
}

function type(ex: Exchange): string | undefined {
  const p = ex.replies[0]?.packet;
  if (!p) return undefined;
  const back = parseDhcp(serializeDhcp(p));
  return back.ok ? ['', 'DISCOVER', 'OFFER', 'REQUEST', 'DECLINE', 'ACK', 'NAK'][back.packet.options.get(Opt.MESSAGE_TYPE)![0]] : 'bad';
}

t.test('RELEASE: only from the address it gives back, only for this MAC’s lease', async (t) => {
  const { leases, send, dora } = setup();
  const ip = (await dora(VICTIM))!;
  const forged = await send({ type: 'RELEASE', mac: VICTIM, ciaddr: ip, serverId: SERVER }, { address: '10.70.0.66', port: 68 });
  t.match(forged, { replies: [], dropped: 'release-refused', event: { level: 'warn', mac: VICTIM, message: /RELEASE refused: RELEASE of 10\.70\.0\.\d+ sent from 10\.70\.0\.66: not from the address it releases/ } });
  t.match(leases.byMac(VICTIM), { ip, state: 'bound' }, 'the victim keeps its lease');
  const other = await send({ type: 'RELEASE', mac: VICTIM, ciaddr: '10.70.0.118', serverId: SERVER }, { address: '10.70.0.118', port: 68 });
  t.match(other, { dropped: 'release-refused', event: { message: /not this MAC's lease/ } }, 'an address this MAC does not hold');
  t.match(leases.byMac(VICTIM), { state: 'bound' });
  const own = await send({ type: 'RELEASE', mac: VICTIM, ciaddr: ip, serverId: SERVER }, { address: ip, port: 68 });
  t.match(own, { dropped: 'released' });
  t.match(leases.byMac(VICTIM), { state: 'released' }, 'the client itself releases');
  t.match(await send({ type: 'RELEASE', mac: VICTIM, ciaddr: ip, serverId: SERVER }, { address: ip, port: 68 }), { dropped: 'release-refused' }, 'twice: nothing left to release');
});

t.test('DECLINE: with our server id, for this MAC’s lease, right after its ACK', async (t) => {
  const { leases, clock, send, dora } = setup();
  const ip = (await dora(VICTIM))!;
  t.match(await send({ type: 'DECLINE', mac: VICTIM, requested: ip }), { dropped: 'decline-refused', event: { message: /without a server identifier/ } });
  t.match(await send({ type: 'DECLINE', mac: VICTIM, requested: '10.70.0.118', serverId: SERVER }), { dropped: 'decline-refused', event: { message: /not this MAC's lease/ } });
  clock.now += DECLINE_WINDOW_MS + 1000;
  const late = await send({ type: 'DECLINE', mac: VICTIM, requested: ip, serverId: SERVER });
  t.match(late, { dropped: 'decline-refused', event: { level: 'warn', message: /61 s after its ACK: not an answer to an ACK/ } });
  t.match(leases.byMac(VICTIM), { ip, state: 'bound' }, 'a forged DECLINE does not take the address away');
  const renew = await send({ type: 'REQUEST', mac: VICTIM, ciaddr: ip }, { address: ip, port: 68 });
  t.equal(type(renew), 'ACK', 'and the victim renews');

  // A real DECLINE: right after the ACK. The address stays out of the pool, even for this client.
  const fresh = (await dora(ATTACKER))!;
  t.match(await send({ type: 'DECLINE', mac: ATTACKER, requested: fresh, serverId: SERVER }), { dropped: 'declined', event: { level: 'warn' } });
  const next = await send({ type: 'DISCOVER', mac: ATTACKER, requested: fresh });
  t.not(next.replies[0]?.packet.yiaddr, fresh, 'not offered its declined address again');
  await send({ type: 'REQUEST', mac: ATTACKER, serverId: SERVER, requested: next.replies[0].packet.yiaddr });
  t.notOk(leases.isFree(fresh, '02:00:00:70:00:77', clock.now), 'held for others after the client moved on');
  clock.now += DECLINE_HOLD_MS;
  t.ok(leases.isFree(fresh, '02:00:00:70:00:77', clock.now), 'free after the hold');
});

t.test('INIT-REBOOT and renewals: only this MAC’s lease; a NAKed claim teaches no address', async (t) => {
  const { send, dora } = setup();
  const ip = (await dora(VICTIM))!;
  const free = await send({ type: 'REQUEST', mac: ATTACKER, requested: '10.70.0.117' });
  t.equal(type(free), 'NAK', 'a free address is not claimed by asking for it');
  t.match(free, { event: { level: 'warn', message: /INIT-REBOOT for 10\.70\.0\.117, which is not this MAC's lease/ } });
  t.equal(free.learned, undefined, 'no address learned from a refused claim (install tokens go to learned addresses)');
  const taken = await send({ type: 'REQUEST', mac: ATTACKER, requested: ip });
  t.equal(type(taken), 'NAK', "another MAC's address");
  t.equal(taken.learned, undefined);
  const renew = await send({ type: 'REQUEST', mac: ATTACKER, ciaddr: ip }, { address: ip, port: 68 });
  t.match(renew, { event: { message: /RENEWING for 10\.70\.0\.\d+, which is not this MAC's lease/ } });
  t.equal(type(renew), 'NAK');
  // A known machine: the same, and it is the one whose install token follows the learned address.
  const spoofKnown = await send({ type: 'REQUEST', mac: KNOWN, requested: '10.70.0.66' });
  t.equal(type(spoofKnown), 'NAK');
  t.equal(spoofKnown.learned, undefined, "a forged claim for a machine's MAC does not become the address its token is handed to");
  const inform = await send({ type: 'INFORM', mac: KNOWN, ciaddr: '10.70.0.66' }, { address: '10.70.0.66', port: 68 });
  t.equal(inform.learned, undefined, 'nor does an INFORM');
  const own = await send({ type: 'REQUEST', mac: VICTIM, requested: ip });
  t.equal(type(own), 'ACK', 'INIT-REBOOT for its own lease');
  t.same(own.learned, { ip, mac: VICTIM });
  const lost = await send({ type: 'REQUEST', mac: '02:00:00:70:00:55', requested: '10.70.0.116' });
  t.equal(type(lost), 'NAK', 'a client whose lease was lost goes back to DISCOVER');
  const again = await send({ type: 'DISCOVER', mac: '02:00:00:70:00:55', requested: '10.70.0.116' });
  t.equal(again.replies[0].packet.yiaddr, '10.70.0.116', 'and gets its address there, through the allocator');
});

t.test('giaddr is believed only from dhcp.relays', async (t) => {
  const { send } = setup();
  const agent = encodeSubOptions([[1, Buffer.from('eth1/1')]]);
  const listed = await send({ type: 'DISCOVER', mac: VICTIM, giaddr: '10.71.0.1', relayAgent: agent }, { address: '10.71.0.1', port: 67 });
  t.match(listed.replies[0].packet, { yiaddr: /^10\.71\.0\./ }, 'listed relay: answered from its subnet');
  const unlisted = await send({ type: 'DISCOVER', mac: VICTIM, giaddr: '10.71.0.2' }, { address: '10.71.0.2', port: 67 });
  t.match(unlisted, { replies: [], dropped: 'relay-not-allowed', event: { level: 'warn', message: /relayed through 10\.71\.0\.2, which is not in dhcp\.relays/ } });
  const local = await send({ type: 'DISCOVER', mac: VICTIM, giaddr: '10.71.0.1' }, FROM0);
  t.equal(local.replies.length, 1, 'the giaddr decides, wherever the datagram came from');
  const { send: noRelays } = setup({ relays: undefined });
  t.match(await noRelays({ type: 'DISCOVER', mac: VICTIM, giaddr: '10.71.0.1' }, { address: '10.71.0.1', port: 67 }), { dropped: 'relay-not-allowed' }, 'default: no relay is believed');
  const proxy = setup({ mode: 'proxy', relays: [] });
  t.match(await proxy.send({ type: 'DISCOVER', mac: KNOWN, ...BIOS, giaddr: '10.71.0.1' }, { address: '10.71.0.1', port: 67 }), { dropped: 'relay-not-allowed' }, 'proxy mode too');
  const warnings: unknown[] = [];
  for (let i = 0; i < 50; i++) {
    const ex = await send({ type: 'DISCOVER', mac: VICTIM, giaddr: '10.71.0.9' }, { address: '10.71.0.9', port: 67 });
    if (ex.event) warnings.push(ex.event);
  }
  t.equal(warnings.length, 5, 'a flood is counted, only its first few are events');
});

for (const unknownMachines of ['local', 'discover'] as const)
t.test(`${unknownMachines}: a flood of made-up MACs takes half the range at most; inventory machines still get addresses`, async (t) => {
  const { send, dora, clock } = setup({ unknownMachines });
  let bound = 0;
  const refusals: Record<string, number> = {};
  for (let i = 0; i < 300; i++) {
    const mac = `02:ff:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    const offer = await send({ type: 'DISCOVER', mac });
    if (!offer.replies.length) {
      refusals[offer.dropped!] = (refusals[offer.dropped!] ?? 0) + 1;
      continue;
    }
    const ack = await send({ type: 'REQUEST', mac, serverId: SERVER, requested: offer.replies[0].packet.yiaddr });
    if (type(ack) === 'ACK') bound++;
  }
  t.equal(bound, 10, 'unknown MACs hold 10 of the 20 addresses');
  t.same(refusals, { 'unknown-share-full': 290 });
  t.ok(await dora(KNOWN), 'an inventory machine without a reservation still gets one');
  // Offers that are never taken up stop counting when they expire.
  const { send: send2, clock: clock2 } = setup({ unknownMachines });
  for (let i = 0; i < 10; i++) await send2({ type: 'DISCOVER', mac: `02:fe:00:00:00:${i.toString(16).padStart(2, '0')}` });
  t.match(await send2({ type: 'DISCOVER', mac: '02:fe:00:00:01:00' }), { dropped: 'unknown-share-full', event: { level: 'warn' } });
  clock2.now += OFFER_HOLD_MS + 1;
  t.equal((await send2({ type: 'DISCOVER', mac: '02:fe:00:00:01:00' })).replies.length, 1, 'room again once the offers lapsed');
  t.ok(clock.now > 0);
});

t.test('per client: one client id behind many MACs, one relay circuit, one MAC cycling client ids', async (t) => {
  const { send, dora } = setup({}, ['10.70.0.100', '10.70.0.199']);
  const sameId = Buffer.from('01aabbccddeeff', 'hex');
  let got = 0;
  for (let i = 0; i < 10; i++) if (await dora(`02:aa:00:00:00:${i.toString(16).padStart(2, '0')}`, { clientId: sameId })) got++;
  t.equal(got, 4, 'one client identifier, many MACs: maxLeasesPerClient addresses');
  const circuit = encodeSubOptions([[1, Buffer.from('Gi1/0/7')], [2, Buffer.from('sw-3')]]);
  got = 0;
  for (let i = 0; i < 10; i++) if (await dora(`02:bb:00:00:00:${i.toString(16).padStart(2, '0')}`, { giaddr: '10.71.0.1', relayAgent: circuit })) got++;
  t.equal(got, 4, 'one switch port (option 82), many MACs');
  const otherPort = encodeSubOptions([[1, Buffer.from('Gi1/0/8')], [2, Buffer.from('sw-3')]]);
  t.ok(await dora('02:bb:00:00:01:00', { giaddr: '10.71.0.1', relayAgent: otherPort }), 'the next port is its own client');
  const ips = new Set<string>();
  for (let i = 0; i < 10; i++) ips.add((await dora('02:cc:00:00:00:01', { clientId: Buffer.from([1, i, 2, 3, 4, 5, 6]) }))!);
  t.same([...ips].length, 1, 'one MAC cycling client identifiers keeps one address');
  const { dora: dora2, send: send2 } = setup();
  // DORA + DECLINE over and over from one MAC: each declined address stays held, and counted.
  let declined = 0;
  for (let i = 0; i < 10; i++) {
    const ip = await dora2(ATTACKER);
    if (!ip) break;
    await send2({ type: 'DECLINE', mac: ATTACKER, requested: ip, serverId: SERVER });
    declined++;
  }
  t.equal(declined, 4, 'declining addresses one after the other stops at maxLeasesPerClient');
});

t.test('caps are for unknown MACs in local mode only', async (t) => {
  const { dora } = setup({ limits: { maxLeasesPerClient: 1, unknownLeaseShare: 0.05 } });
  t.ok(await dora('02:dd:00:00:00:01'));
  t.notOk(await dora('02:dd:00:00:00:02'), 'share of 1 address taken');
  t.ok(await dora(KNOWN), 'inventory machine not capped');
});

t.test('LeaseTable counts agree with a recount, through renewals, moves, declines, releases and expiry', async (t) => {
  const table = new LeaseTable();
  let seed = 11;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  let now = 1_000_000;
  const states: Lease['state'][] = ['offered', 'bound', 'declined', 'released'];
  const counted = new Map<Lease, string>();
  let mismatches = 0;
  for (let step = 0; step < 20_000; step++) {
    now += rand(3000);
    const mac = `02:00:00:00:00:${rand(40).toString(16).padStart(2, '0')}`;
    const ip = `10.9.0.${rand(30)}`;
    const client = `c${rand(6)}`;
    const state = states[rand(4)];
    const lease: Lease = { mac, ip, subnet: '10.9.0.0/24', state, expiresAt: now + rand(120_000), updatedAt: now };
    const unknown = rand(3) > 0;
    table.set(lease, unknown ? { client } : undefined);
    if (unknown) counted.set(lease, client);
    if (step % 97 === 0) {
      // Recount from what the table holds by address.
      const byClient = new Map<string, number>();
      let total = 0;
      for (let k = 0; k < 30; k++) {
        const l = table.byIp(`10.9.0.${k}`);
        if (!l || l.state === 'released' || l.expiresAt <= now) continue;
        if (!counted.has(l)) continue; // set for a machine in the inventory
        total++;
        byClient.set(counted.get(l)!, (byClient.get(counted.get(l)!) ?? 0) + 1);
      }
      if (table.unknownIn('10.9.0.0/24', now) !== total) mismatches++;
      for (let c = 0; c < 6; c++) if (table.heldBy(`c${c}`, now) !== (byClient.get(`c${c}`) ?? 0)) mismatches++;
    }
  }
  t.equal(mismatches, 0);
});

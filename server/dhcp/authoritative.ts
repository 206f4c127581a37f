import type { DhcpPacket } from './codec.js';
import { relayAgentInfo, type ClientInfo } from './client-info.js';
import type { BootTarget } from './classify.js';
import type { BootView } from '../model/boot.js';
import type { Lease } from '../model/lease.js';
import type { LeaseTable } from './lease-table.js';
import { findPool, type Pool } from './pool.js';
import { decodeSubOptions, ipToBuf, MessageType, Opt, u32 } from './options.js';
import { addBootInfo, nak, newReply, type Destination } from './reply.js';

const ZERO = '0.0.0.0';

/**
 * Authoritative DHCP (RFC 2131 §4.3): kickstand owns the segment's addresses. Static
 * reservations come from the machine's inventory ipv4; everything else from the subnet's
 * range, through the lease table. No ping before offering (it costs the client seconds and
 * the lease table already knows what is taken).
 */

/**
 * Caps on addresses handed to MACs that are not in the inventory (unknownMachines: local or discover), so
 * neither one client nor a flood of made-up MACs can drain the pool the inventory's machines
 * boot from. Machines in the inventory are never capped.
 */
export interface UnknownLimits {
  /** Addresses one client may hold at once (see clientKey). */
  maxLeasesPerClient: number;
  /** Share of each subnet's dynamic range that unknown MACs may hold at once (0–1]. */
  unknownLeaseShare: number;
}

export interface AuthoritativeOptions {
  serverAddress: string;
  tftpServer: string;
  pools: Pool[];
  leases: LeaseTable;
  /** Absent: no caps (tests of the lease logic alone). */
  limits?: UnknownLimits;
}

export interface AuthoritativeResult {
  reply?: DhcpPacket;
  /** Address offered, acknowledged, declined or released. */
  ip?: string;
  /** Short outcome for events and counters: offer, ack, nak-…, declined, released, or why silent. */
  outcome: string;
  /** Set when the request was refused as not this client's to make (a foreign lease, a cap): why, for a warning. */
  refused?: string;
}

/** An OFFER reserves its address only briefly: clients that go away must not drain the pool. */
export const OFFER_HOLD_MS = 60_000;
/** RFC 2131 §3.1.5: a declined address is in use by someone else; keep it out of the pool for a while. */
export const DECLINE_HOLD_MS = 600_000;
/**
 * A client declines right after the ACK, once its ARP probe found the address taken (RFC 2131
 * §4.4.1; udhcpc, dhclient and NetworkManager probe for 1–3 s). A DECLINE later than this is not
 * a probe's answer: someone forging one to take a machine's address away.
 */
export const DECLINE_WINDOW_MS = 60_000;

/**
 * Who a lease of an unknown machine counts against: behind a relay that identifies the switch
 * port (option 82 circuit-id / remote-id), that port; else the client identifier (option 61),
 * which a client keeps whatever MAC it claims; else the MAC. A MAC has one lease at most (the
 * table is keyed by MAC), so a client cycling client identifiers on one MAC keeps one address.
 */
export function clientKey(req: DhcpPacket, info: ClientInfo, mac: string): string {
  const agent = req.giaddr !== ZERO ? relayAgentInfo(req) : undefined;
  if (agent) {
    const ids = (decodeSubOptions(agent) ?? []).filter(([code]) => code === 1 || code === 2);
    if (ids.length) return `relay ${req.giaddr} ${ids.map(([code, data]) => `${code}:${data.toString('hex')}`).join(' ')}`;
  }
  if (info.clientId?.length) return `client-id ${info.clientId.toString('hex')}`;
  return `mac ${mac}`;
}


function reservation(view: BootView | undefined, pool: Pool): string | undefined {
  const ip = view?.ipv4?.address.split('/')[0];
  return ip && pool.contains(ip) ? ip : undefined;
}

function networkOptions(reply: DhcpPacket, pool: Pool, view: BootView | undefined, withLease: boolean): void {
  const o = reply.options;
  const s = pool.config;
  o.set(Opt.SUBNET_MASK, ipToBuf(pool.netmask));
  const gateway = view?.ipv4?.gateway ?? s.gateway;
  if (gateway) o.set(Opt.ROUTER, ipToBuf(gateway));
  const dns = view?.ipv4?.dns.length ? view.ipv4.dns : s.dns;
  if (dns.length) o.set(Opt.DNS, Buffer.concat(dns.map(ipToBuf)));
  if (view) o.set(Opt.HOSTNAME, Buffer.from(view.name));
  if (s.domain) o.set(Opt.DOMAIN, Buffer.from(s.domain));
  if (withLease) {
    o.set(Opt.LEASE_TIME, u32(s.leaseSeconds));
    o.set(Opt.RENEWAL_TIME, u32(Math.floor(s.leaseSeconds / 2)));
    o.set(Opt.REBINDING_TIME, u32(Math.floor((s.leaseSeconds * 7) / 8)));
  }
}

export function answerAuthoritative(
  req: DhcpPacket,
  info: ClientInfo & { mac: string },
  view: BootView | undefined,
  boot: BootTarget | undefined,
  opts: AuthoritativeOptions,
  now: number,
  from: Destination = { address: ZERO, port: 68 },
): AuthoritativeResult {
  const { leases, serverAddress } = opts;
  const mac = info.mac;
  // A relay names the client's subnet by giaddr (the handler only lets configured relays through); a local client is on the interface's subnet.
  const pool = findPool(opts.pools, req.giaddr !== ZERO ? req.giaddr : serverAddress);
  if (!pool) return { outcome: 'no-subnet' };
  const reserved = reservation(view, pool);
  const current = leases.byMac(mac);
  const client = view ? undefined : clientKey(req, info, mac);
  const record = (ip: string, state: Lease['state'], expiresAt: number) =>
    leases.set(
      {
        mac,
        ip,
        subnet: pool.cidr,
        state,
        expiresAt,
        hostname: info.hostname ?? current?.hostname,
        clientId: info.clientId?.toString('hex') ?? current?.clientId,
        updatedAt: now,
        ...(ip === reserved ? { reserved: true } : {}),
      },
      client !== undefined ? { client } : undefined,
    );
  const usable = (ip: string) => ip !== serverAddress && ip !== pool.config.gateway && leases.isFree(ip, mac, now);
  const answer = (type: number, ip: string): DhcpPacket => {
    const reply = newReply(req, type, serverAddress);
    reply.yiaddr = ip;
    networkOptions(reply, pool, view, true);
    if (boot) addBootInfo(reply, req, info, boot, opts.tftpServer, false);
    return reply;
  };
  /**
   * A new address for an unknown machine must fit its client's cap and the subnet's share (what
   * this MAC holds now is given back for it, unless it is a declined address, which stays held).
   */
  const capped = (): string | undefined => {
    if (client === undefined || !opts.limits) return undefined;
    const mine = leases.countedFor(mac, now);
    const byClient = leases.heldBy(client, now) - (mine?.client === client ? 1 : 0);
    if (byClient >= opts.limits.maxLeasesPerClient) return `client already holds ${byClient} addresses (dhcp.maxLeasesPerClient ${opts.limits.maxLeasesPerClient}; ${client})`;
    const share = Math.max(1, Math.floor(pool.size * opts.limits.unknownLeaseShare));
    const inSubnet = leases.unknownIn(pool.cidr, now) - (mine?.subnet === pool.cidr ? 1 : 0);
    if (inSubnet >= share) return `unknown machines hold ${inSubnet} of the ${share} addresses of ${pool.cidr} they may (dhcp.unknownLeaseShare ${opts.limits.unknownLeaseShare})`;
    return undefined;
  };

  switch (info.type) {
    case 'DISCOVER': {
      let ip = reserved;
      if (!ip && current && current.subnet === pool.cidr && current.state !== 'declined' && pool.inRange(current.ip) && usable(current.ip)) ip = current.ip;
      const over = ip ? undefined : capped();
      if (over) return { outcome: over.startsWith('client') ? 'client-cap' : 'unknown-share-full', refused: over };
      if (!ip && info.requestedIp && pool.inRange(info.requestedIp) && usable(info.requestedIp)) ip = info.requestedIp;
      ip ??= pool.allocate(usable);
      if (!ip) return { outcome: 'pool-exhausted' };
      // Re-offering a bound lease must not shorten it.
      const keep = current?.ip === ip && current.state === 'bound' && current.expiresAt > now;
      if (!keep) record(ip, 'offered', now + OFFER_HOLD_MS);
      return { reply: answer(MessageType.OFFER, ip), ip, outcome: 'offer' };
    }
    case 'REQUEST': {
      if (info.serverId !== undefined && info.serverId !== serverAddress) {
        if (current?.state === 'offered') record(current.ip, 'released', now);
        return { reply: nak(req, serverAddress, 'wrong server'), outcome: 'nak-wrong-server' };
      }
      const ip = info.requestedIp ?? (req.ciaddr !== ZERO ? req.ciaddr : undefined);
      if (!ip || !pool.contains(ip)) return { reply: nak(req, serverAddress, 'wrong address'), ip, outcome: 'nak-wrong-subnet' };
      // SELECTING (server id), INIT-REBOOT (option 50, no server id) and RENEWING/REBINDING (ciaddr)
      // alike: only this MAC's reservation or its own lease is acknowledged. An address that is
      // merely free is not claimed by asking for it: that went around the allocator and its caps.
      const ours =
        reserved !== undefined ? ip === reserved : current?.ip === ip && current.subnet === pool.cidr && current.state !== 'declined' && usable(ip);
      if (!ours) {
        const state = info.serverId !== undefined ? 'SELECTING' : req.ciaddr !== ZERO ? 'RENEWING' : 'INIT-REBOOT';
        return {
          reply: nak(req, serverAddress, 'wrong address'),
          ip,
          outcome: 'nak-wrong-address',
          refused: `${state} for ${ip}, which is not this MAC's ${reserved !== undefined ? `reservation (${reserved})` : 'lease'}`,
        };
      }
      // A released or expired lease taken up again is a new address as far as the caps go.
      const over = reserved === undefined && !leases.countedFor(mac, now) ? capped() : undefined;
      if (over) return { reply: nak(req, serverAddress, 'address limit'), ip, outcome: over.startsWith('client') ? 'nak-client-cap' : 'nak-unknown-share-full', refused: over };
      record(ip, 'bound', now + pool.config.leaseSeconds * 1000);
      return { reply: answer(MessageType.ACK, ip), ip, outcome: 'ack' };
    }
    case 'DECLINE': {
      // RFC 2131 §4.3.3: DECLINE carries the server id and the address (option 50); it answers the ACK just sent.
      const ip = info.requestedIp;
      if (info.serverId !== serverAddress)
        return info.serverId === undefined ? { ip, outcome: 'decline-refused', refused: 'DECLINE without a server identifier' } : { ip, outcome: 'decline-other-server' };
      if (!ip || current?.ip !== ip || current.subnet !== pool.cidr) return { ip, outcome: 'decline-refused', refused: `DECLINE of ${ip ?? 'no address'}, which is not this MAC's lease` };
      if (current.state !== 'bound' || now - current.updatedAt > DECLINE_WINDOW_MS)
        return { ip, outcome: 'decline-refused', refused: `DECLINE of ${ip} ${current.state === 'bound' ? `${Math.round((now - current.updatedAt) / 1000)} s after its ACK` : `in state ${current.state}`}: not an answer to an ACK` };
      record(ip, 'declined', now + DECLINE_HOLD_MS);
      return { ip, outcome: 'declined' };
    }
    case 'RELEASE': {
      // RFC 2131 §4.4.6: the client unicasts RELEASE from the address it gives back, with our server id.
      if (info.serverId !== undefined && info.serverId !== serverAddress) return { ip: req.ciaddr, outcome: 'release-other-server' };
      if (!current || current.ip !== req.ciaddr || current.state === 'released' || current.state === 'declined')
        return { ip: req.ciaddr, outcome: 'release-refused', refused: `RELEASE of ${req.ciaddr}, which is not this MAC's lease` };
      if (req.giaddr === ZERO && from.address !== req.ciaddr)
        return { ip: req.ciaddr, outcome: 'release-refused', refused: `RELEASE of ${req.ciaddr} sent from ${from.address}: not from the address it releases` };
      record(current.ip, 'released', now);
      return { ip: current.ip, outcome: 'released' };
    }
    case 'INFORM': {
      // RFC 2131 §3.4: configuration only, no lease, no yiaddr.
      const reply = newReply(req, MessageType.ACK, serverAddress);
      reply.ciaddr = req.ciaddr;
      networkOptions(reply, pool, view, false);
      if (boot) addBootInfo(reply, req, info, boot, opts.tftpServer, false);
      return { reply, ip: req.ciaddr, outcome: 'inform-ack' };
    }
    default:
      return { outcome: 'not-a-request' };
  }
}

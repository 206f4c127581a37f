import type { DhcpPacket } from './codec.js';
import type { ClientInfo } from './client-info.js';
import type { BootTarget } from './classify.js';
import type { BootView } from '../model/boot.js';
import type { Lease } from '../model/lease.js';
import type { LeaseTable } from './lease-table.js';
import { findPool, type Pool } from './pool.js';
import { ipToBuf, MessageType, Opt, u32 } from './options.js';
import { addBootInfo, nak, newReply } from './reply.js';

/**
 * Authoritative DHCP (RFC 2131 §4.3): kickstand owns the segment's addresses. Static
 * reservations come from the machine's inventory ipv4; everything else from the subnet's
 * range, through the lease table. No ping before offering (it costs the client seconds and
 * the lease table already knows what is taken).
 */

export interface AuthoritativeOptions {
  serverAddress: string;
  tftpServer: string;
  pools: Pool[];
  leases: LeaseTable;
}

export interface AuthoritativeResult {
  reply?: DhcpPacket;
  /** Address offered, acknowledged, declined or released. */
  ip?: string;
  /** Short outcome for events and counters: offer, ack, nak-…, declined, released, or why silent. */
  outcome: string;
}

/** An OFFER reserves its address only briefly: clients that go away must not drain the pool. */
export const OFFER_HOLD_MS = 60_000;
/** RFC 2131 §3.1.5: a declined address is in use by someone else; keep it out of the pool for a while. */
export const DECLINE_HOLD_MS = 600_000;

const ZERO = '0.0.0.0';

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
): AuthoritativeResult {
  const { leases, serverAddress } = opts;
  const mac = info.mac;
  // A relay names the client's subnet by giaddr; a local client is on the interface's subnet.
  const pool = findPool(opts.pools, req.giaddr !== ZERO ? req.giaddr : serverAddress);
  if (!pool) return { outcome: 'no-subnet' };
  const reserved = reservation(view, pool);
  const current = leases.byMac(mac);
  const record = (ip: string, state: Lease['state'], expiresAt: number) =>
    leases.set({
      mac,
      ip,
      subnet: pool.cidr,
      state,
      expiresAt,
      hostname: info.hostname ?? current?.hostname,
      clientId: info.clientId?.toString('hex') ?? current?.clientId,
      updatedAt: now,
    });
  const usable = (ip: string) => ip !== serverAddress && ip !== pool.config.gateway && leases.isFree(ip, mac, now);
  const answer = (type: number, ip: string): DhcpPacket => {
    const reply = newReply(req, type, serverAddress);
    reply.yiaddr = ip;
    networkOptions(reply, pool, view, true);
    if (boot) addBootInfo(reply, req, info, boot, opts.tftpServer, false);
    return reply;
  };

  switch (info.type) {
    case 'DISCOVER': {
      let ip = reserved;
      if (!ip && current && current.subnet === pool.cidr && current.state !== 'declined' && pool.inRange(current.ip) && usable(current.ip)) ip = current.ip;
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
      const ours =
        reserved !== undefined
          ? ip === reserved
          : (current?.ip === ip && current.subnet === pool.cidr && current.state !== 'declined') ||
            // INIT-REBOOT after the lease was lost (new store, expiry): still free, so honour it.
            (info.serverId === undefined && pool.inRange(ip) && usable(ip));
      if (!ours) return { reply: nak(req, serverAddress, 'wrong address'), ip, outcome: 'nak-wrong-address' };
      record(ip, 'bound', now + pool.config.leaseSeconds * 1000);
      return { reply: answer(MessageType.ACK, ip), ip, outcome: 'ack' };
    }
    case 'DECLINE': {
      if (info.serverId !== undefined && info.serverId !== serverAddress) return { outcome: 'decline-other-server' };
      const ip = info.requestedIp;
      if (!ip || current?.ip !== ip) return { ip, outcome: 'decline-unknown' };
      record(ip, 'declined', now + DECLINE_HOLD_MS);
      return { ip, outcome: 'declined' };
    }
    case 'RELEASE': {
      if (!current || current.ip !== req.ciaddr) return { ip: req.ciaddr, outcome: 'release-unknown' };
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

import { BOOTREPLY, FLAG_BROADCAST, type DhcpPacket } from './codec.js';
import type { ClientInfo } from './client-info.js';
import { relayAgentInfo } from './client-info.js';
import type { BootTarget } from './classify.js';
import { encodeSubOptions, ipToBuf, IpxeOpt, MessageType, Opt, PxeOpt } from './options.js';

/** Reply building shared by proxy and authoritative mode. */

export interface Destination {
  address: string;
  port: number;
}

export function newReply(req: DhcpPacket, type: number, serverId: string): DhcpPacket {
  return {
    op: BOOTREPLY,
    htype: req.htype,
    hlen: req.hlen,
    hops: 0,
    xid: req.xid,
    secs: 0,
    flags: req.flags,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: req.giaddr,
    chaddr: req.chaddr,
    sname: '',
    file: '',
    options: new Map([
      [Opt.MESSAGE_TYPE, Buffer.from([type])],
      [Opt.SERVER_ID, ipToBuf(serverId)],
    ]),
  };
}

export function nak(req: DhcpPacket, serverId: string, message: string): DhcpPacket {
  const r = newReply(req, MessageType.NAK, serverId);
  // RFC 2131 §4.3.2: a NAK through a relay carries the broadcast bit, the client has no address.
  if (req.giaddr !== '0.0.0.0') r.flags |= FLAG_BROADCAST;
  r.options.set(Opt.MESSAGE, Buffer.from(message, 'latin1'));
  return r;
}

const PXE_SKIP_DISCOVERY = encodeSubOptions([[PxeOpt.DISCOVERY_CONTROL, Buffer.from([8])]], true);
const IPXE_NO_PXEDHCP = encodeSubOptions([[IpxeOpt.NO_PXEDHCP, Buffer.from([1])]]);

/**
 * Boot fields for a netboot client. `proxy` offers must carry option 60 "PXEClient": that is
 * how PXE ROMs and iPXE tell a ProxyDHCP offer from a site DHCP offer without a bootfile.
 */
export function addBootInfo(reply: DhcpPacket, req: DhcpPacket, info: ClientInfo, boot: BootTarget, tftpServer: string, proxy: boolean): void {
  const o = reply.options;
  const name = boot.kind === 'tftp' ? boot.file : boot.url;
  reply.siaddr = tftpServer;
  // The file field holds 127 bytes; option 67 carries longer URLs (iPXE and udhcpc read both).
  if (name.length <= 127) reply.file = name;
  if (boot.kind === 'http') o.set(Opt.VENDOR_CLASS, Buffer.from('HTTPClient'));
  else if (proxy || boot.kind === 'tftp') o.set(Opt.VENDOR_CLASS, Buffer.from('PXEClient'));
  if (boot.kind === 'tftp') {
    o.set(Opt.TFTP_SERVER, Buffer.from(tftpServer));
    if ((info.vendorClass ?? '').startsWith('PXEClient')) o.set(Opt.VENDOR_SPECIFIC, PXE_SKIP_DISCOVERY);
  }
  o.set(Opt.BOOTFILE, Buffer.from(name, 'latin1'));
  if (boot.kind === 'ipxe-script') o.set(Opt.IPXE_ENCAP, IPXE_NO_PXEDHCP);
  const uuid = req.options.get(Opt.CLIENT_UUID);
  if (uuid) o.set(Opt.CLIENT_UUID, uuid);
}

/** Relay agent information goes back unchanged and last (RFC 3046 §2.2). */
export function echoRelayAgent(reply: DhcpPacket, req: DhcpPacket): void {
  const info = relayAgentInfo(req);
  if (info) reply.options.set(Opt.RELAY_AGENT, info);
}

/**
 * RFC 2131 §4.1 addressing. Without raw sockets a server cannot unicast to a client that has
 * no address yet (its MAC is not in the ARP table), so those replies are broadcast; every
 * client that can boot listens for broadcasts.
 */
export function destination(
  req: DhcpPacket,
  reply: DhcpPacket,
  from: Destination,
  viaProxyPort: boolean,
  ports: { server: number; client: number },
): Destination {
  if (viaProxyPort) return from;
  if (req.giaddr !== '0.0.0.0') return { address: req.giaddr, port: ports.server };
  const isNak = reply.options.get(Opt.MESSAGE_TYPE)?.[0] === MessageType.NAK;
  if (!isNak && req.ciaddr !== '0.0.0.0') return { address: req.ciaddr, port: ports.client };
  return { address: '255.255.255.255', port: ports.client };
}

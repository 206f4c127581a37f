import { serializeDhcp, type DhcpPacket } from '../../server/dhcp/codec.js';
import { encodeSubOptions, ipToBuf, MessageType, Opt, type MessageTypeName } from '../../server/dhcp/options.js';

/** Client requests for tests, built field by field as the real clients in fixtures send them. */
export interface RequestSpec {
  type: MessageTypeName;
  mac: string;
  xid?: number;
  arch?: number;
  vendor?: string;
  userClass?: string;
  ipxe175?: boolean;
  uuid?: boolean;
  requested?: string;
  serverId?: string;
  ciaddr?: string;
  giaddr?: string;
  relayAgent?: Buffer;
  /** Option 61. */
  clientId?: Buffer;
}

export const BIOS = { arch: 0, vendor: 'PXEClient:Arch:00000:UNDI:002001', uuid: true } as const;
export const UEFI = { arch: 7, vendor: 'PXEClient:Arch:00007:UNDI:003016', uuid: true } as const;
export const HTTP = { arch: 16, vendor: 'HTTPClient:Arch:00016:UNDI:003016' } as const;
export const IPXE = { arch: 0, vendor: 'PXEClient:Arch:00000:UNDI:002001', userClass: 'iPXE', ipxe175: true } as const;

export function requestPacket(s: RequestSpec): DhcpPacket {
  const o = new Map<number, Buffer>([[Opt.MESSAGE_TYPE, Buffer.from([MessageType[s.type]])]]);
  if (s.requested) o.set(Opt.REQUESTED_IP, ipToBuf(s.requested));
  if (s.serverId) o.set(Opt.SERVER_ID, ipToBuf(s.serverId));
  o.set(Opt.PARAM_LIST, Buffer.from([1, 3, 6, 12, 15, 43, 60, 66, 67, 175]));
  if (s.arch !== undefined) o.set(Opt.CLIENT_ARCH, Buffer.from([s.arch >> 8, s.arch & 255]));
  if (s.vendor) o.set(Opt.VENDOR_CLASS, Buffer.from(s.vendor));
  if (s.userClass) o.set(Opt.USER_CLASS, Buffer.from(s.userClass));
  if (s.ipxe175) o.set(Opt.IPXE_ENCAP, encodeSubOptions([[19, Buffer.from([1])], [23, Buffer.from([1])]]));
  if (s.uuid) o.set(Opt.CLIENT_UUID, Buffer.from('00' + '11'.repeat(16), 'hex'));
  if (s.clientId) o.set(Opt.CLIENT_ID, s.clientId);
  if (s.relayAgent) o.set(Opt.RELAY_AGENT, s.relayAgent);
  return {
    op: 1, htype: 1, hlen: 6, hops: s.giaddr ? 1 : 0, xid: s.xid ?? 0x1234, secs: 0, flags: 0,
    ciaddr: s.ciaddr ?? '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: s.giaddr ?? '0.0.0.0',
    chaddr: Buffer.concat([Buffer.from(s.mac.replace(/:/g, ''), 'hex'), Buffer.alloc(10)]),
    sname: '', file: '', options: o,
  };
}

export function request(s: RequestSpec): Buffer {
  return serializeDhcp(requestPacket(s));
}

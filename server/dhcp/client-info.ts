import { clientMac, type DhcpPacket } from './codec.js';
import { bufToIp, decodeArchList, decodeSubOptions, decodeUserClass, messageTypeName, Opt, type MessageTypeName } from './options.js';

/** What a request says about its sender, read once from the options the codec validated. */
export interface ClientInfo {
  type: MessageTypeName | undefined;
  mac: string | undefined;
  /** RFC 4578 option 93; empty when absent. */
  arch: number[];
  vendorClass: string | undefined;
  userClasses: string[];
  /** Option 175 present: the client runs iPXE. */
  ipxeEncap: boolean;
  requestedIp: string | undefined;
  serverId: string | undefined;
  hostname: string | undefined;
  clientId: Buffer | undefined;
  paramList: number[];
  maxSize: number | undefined;
  relayed: boolean;
}

export function readClientInfo(p: DhcpPacket): ClientInfo {
  const o = p.options;
  const type = o.get(Opt.MESSAGE_TYPE);
  const arch = o.get(Opt.CLIENT_ARCH);
  const user = o.get(Opt.USER_CLASS);
  const req = o.get(Opt.REQUESTED_IP);
  const sid = o.get(Opt.SERVER_ID);
  const max = o.get(Opt.MAX_SIZE);
  return {
    type: type ? messageTypeName(type[0]) : undefined,
    mac: clientMac(p),
    arch: arch ? decodeArchList(arch) : [],
    vendorClass: o.get(Opt.VENDOR_CLASS)?.toString('latin1'),
    userClasses: user ? decodeUserClass(user) : [],
    ipxeEncap: o.has(Opt.IPXE_ENCAP),
    requestedIp: req ? bufToIp(req) : undefined,
    serverId: sid ? bufToIp(sid) : undefined,
    hostname: o.get(Opt.HOSTNAME)?.toString('latin1'),
    clientId: o.get(Opt.CLIENT_ID),
    paramList: [...(o.get(Opt.PARAM_LIST) ?? [])],
    maxSize: max ? max.readUInt16BE(0) : undefined,
    relayed: p.giaddr !== '0.0.0.0',
  };
}

/** Relay agent information (82) must be well-formed sub-options to be echoed (RFC 3046 §2.2). */
export function relayAgentInfo(p: DhcpPacket): Buffer | undefined {
  const raw = p.options.get(Opt.RELAY_AGENT);
  return raw && decodeSubOptions(raw) ? raw : undefined;
}

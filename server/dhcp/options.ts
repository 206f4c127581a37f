/**
 * DHCP option numbers (RFC 2132, RFC 4578, RFC 3004, RFC 3046, iPXE) and the TLV codec for
 * encapsulated sub-options (43, 82, 175). Decoders return undefined on malformed input rather
 * than throwing: every byte here comes from the network.
 */

export const Opt = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  DOMAIN: 15,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAM_LIST: 55,
  MESSAGE: 56,
  MAX_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER: 66,
  BOOTFILE: 67,
  USER_CLASS: 77,
  RELAY_AGENT: 82,
  CLIENT_ARCH: 93,
  CLIENT_NDI: 94,
  CLIENT_UUID: 97,
  IPXE_ENCAP: 175,
  END: 255,
} as const;

/** iPXE's encapsulated option 175 settings we send or read. */
export const IpxeOpt = {
  /** ipxe.no-pxedhcp: do not wait for a ProxyDHCP offer (saves iPXE seconds per DHCP). */
  NO_PXEDHCP: 176,
} as const;

/** PXE vendor sub-options inside option 43 (PXE spec 2.1). */
export const PxeOpt = {
  DISCOVERY_CONTROL: 6,
} as const;

export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type MessageTypeName = keyof typeof MessageType;

export function messageTypeName(code: number | undefined): MessageTypeName | undefined {
  return (Object.keys(MessageType) as MessageTypeName[]).find((k) => MessageType[k] === code);
}

/**
 * Lengths the RFCs fix. A packet whose option violates these is malformed as a whole: a
 * 3-byte requested address or a 5-byte message type means the sender is broken or hostile.
 */
type LengthRule = { exact: number } | { min: number; multipleOf?: number };
export const LENGTH_RULES: Readonly<Record<number, LengthRule>> = {
  [Opt.SUBNET_MASK]: { exact: 4 },
  [Opt.ROUTER]: { min: 4, multipleOf: 4 },
  [Opt.DNS]: { min: 4, multipleOf: 4 },
  [Opt.HOSTNAME]: { min: 1 },
  [Opt.REQUESTED_IP]: { exact: 4 },
  [Opt.LEASE_TIME]: { exact: 4 },
  [Opt.OVERLOAD]: { exact: 1 },
  [Opt.MESSAGE_TYPE]: { exact: 1 },
  [Opt.SERVER_ID]: { exact: 4 },
  [Opt.PARAM_LIST]: { min: 1 },
  [Opt.MAX_SIZE]: { exact: 2 },
  [Opt.RENEWAL_TIME]: { exact: 4 },
  [Opt.REBINDING_TIME]: { exact: 4 },
  [Opt.VENDOR_CLASS]: { min: 1 },
  [Opt.CLIENT_ID]: { min: 2 },
  [Opt.USER_CLASS]: { min: 1 },
  [Opt.RELAY_AGENT]: { min: 2 },
  [Opt.CLIENT_ARCH]: { min: 2, multipleOf: 2 },
  [Opt.CLIENT_NDI]: { exact: 3 },
  [Opt.CLIENT_UUID]: { exact: 17 },
};

export function lengthOk(code: number, length: number): boolean {
  const rule = LENGTH_RULES[code];
  if (!rule) return true;
  if ('exact' in rule) return length === rule.exact;
  return length >= rule.min && (rule.multipleOf === undefined || length % rule.multipleOf === 0);
}

/**
 * Walks a code/length/value region `buf[start, end)`, the layout of the options field
 * (RFC 2132 §2) and of encapsulated sub-options (43, 82, 175). Pad (0) is skipped; end (255)
 * stops the walk; a region may also stop at `end` without one (some clients fill the field
 * exactly). `visit` gets each TLV in wire order, `data` a view into `buf`. Returns null, or a
 * description of the first TLV that has no length byte or runs past `end` (TLVs before it have
 * already been visited).
 */
export function walkTlv(buf: Buffer, start: number, end: number, visit: (code: number, data: Buffer) => void): string | null {
  let i = start;
  while (i < end) {
    const code = buf[i];
    if (code === Opt.PAD) {
      i++;
      continue;
    }
    if (code === Opt.END) return null;
    if (i + 1 >= end) return `option ${code} has no length byte at offset ${i}`;
    const len = buf[i + 1];
    if (i + 2 + len > end) return `option ${code} length ${len} runs past offset ${end}`;
    visit(code, buf.subarray(i + 2, i + 2 + len));
    i += 2 + len;
  }
  return null;
}

export type SubOptions = Array<[code: number, data: Buffer]>;

/** Decodes code/length/value sub-options (43, 82, 175). Pad (0) and end (255) are honoured. */
export function decodeSubOptions(buf: Buffer): SubOptions | undefined {
  const out: SubOptions = [];
  return walkTlv(buf, 0, buf.length, (code, data) => out.push([code, data])) === null ? out : undefined;
}

export function encodeSubOptions(subs: SubOptions, withEnd = false): Buffer {
  const parts: Buffer[] = [];
  for (const [code, data] of subs) {
    if (data.length > 255) throw new RangeError(`sub-option ${code} longer than 255 bytes`);
    parts.push(Buffer.from([code, data.length]), data);
  }
  if (withEnd) parts.push(Buffer.from([Opt.END]));
  return Buffer.concat(parts);
}

/**
 * User class (77). RFC 3004 says a list of length-prefixed class names, but iPXE and most
 * firmware send the bare string ("iPXE"). A buffer is read as RFC 3004 only when its length
 * prefixes tile it exactly; otherwise it is one plain string.
 */
export function decodeUserClass(buf: Buffer): string[] {
  const rfc: string[] = [];
  let i = 0;
  while (i < buf.length) {
    const len = buf[i];
    if (len === 0 || i + 1 + len > buf.length) return [buf.toString('latin1')];
    rfc.push(buf.toString('latin1', i + 1, i + 1 + len));
    i += 1 + len;
  }
  return rfc;
}

/** Client system architectures (RFC 4578 §2.1 and the IANA registry). */
export function decodeArchList(buf: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < buf.length; i += 2) out.push(buf.readUInt16BE(i));
  return out;
}

export function ipToBuf(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  return Buffer.from(parts);
}

export function bufToIp(buf: Buffer, offset = 0): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

import { lengthOk, Opt, walkTlv } from './options.js';

/**
 * DHCPv4 / BOOTP packet codec (RFC 2131 §2, RFC 2132, RFC 3396 long options).
 * `parseDhcp` never throws: any input yields a packet or a typed error, because its input is
 * whatever arrives on UDP 67/4011.
 */

export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The 16-byte chaddr field as sent. */
  chaddr: Buffer;
  /** Empty when the field carried overloaded options. */
  sname: string;
  file: string;
  /** In wire order; an option split over several instances (RFC 3396) is joined. */
  options: Map<number, Buffer>;
}

export type DhcpParseErrorReason =
  | 'too-short'
  | 'bad-op'
  | 'bad-hlen'
  | 'no-magic-cookie'
  | 'option-truncated'
  | 'option-length'
  | 'bad-overload';

export interface DhcpParseError {
  reason: DhcpParseErrorReason;
  detail: string;
}

export type ParseResult = { ok: true; packet: DhcpPacket } | { ok: false; error: DhcpParseError };

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const FLAG_BROADCAST = 0x8000;

const HEADER_LEN = 236;
const COOKIE = 0x63825363;
const SNAME_AT = 44;
const FILE_AT = 108;
const OPTIONS_AT = HEADER_LEN + 4;
/** RFC 1542: BOOTP relays and old clients drop anything shorter. */
export const MIN_PACKET = 300;

function fail(reason: DhcpParseErrorReason, detail: string): ParseResult {
  return { ok: false, error: { reason, detail } };
}

function ip(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

function cString(buf: Buffer): string {
  const nul = buf.indexOf(0);
  return buf.toString('latin1', 0, nul < 0 ? buf.length : nul);
}

/**
 * Reads one option region into `into`, joining repeated options (RFC 3396). Returns an error
 * string, or null on success (see walkTlv: a missing END is fine, an overrun is not).
 */
function readRegion(buf: Buffer, start: number, end: number, into: Map<number, Buffer>): string | null {
  return walkTlv(buf, start, end, (code, data) => {
    const prev = into.get(code);
    into.set(code, prev ? Buffer.concat([prev, data]) : Buffer.from(data));
  });
}

export function parseDhcp(buf: Buffer): ParseResult {
  if (buf.length < OPTIONS_AT) return fail('too-short', `${buf.length} bytes, need at least ${OPTIONS_AT}`);
  const op = buf[0];
  if (op !== BOOTREQUEST && op !== BOOTREPLY) return fail('bad-op', `op ${op}`);
  const hlen = buf[2];
  if (hlen > 16) return fail('bad-hlen', `hlen ${hlen}`);
  if (buf.readUInt32BE(HEADER_LEN) !== COOKIE) return fail('no-magic-cookie', 'not a DHCP packet (BOOTP without cookie)');

  const options = new Map<number, Buffer>();
  const err = readRegion(buf, OPTIONS_AT, buf.length, options);
  if (err) return fail('option-truncated', err);

  let sname = cString(buf.subarray(SNAME_AT, SNAME_AT + 64));
  let file = cString(buf.subarray(FILE_AT, FILE_AT + 128));
  const overload = options.get(Opt.OVERLOAD);
  if (overload) {
    if (overload.length !== 1 || overload[0] < 1 || overload[0] > 3) return fail('bad-overload', `overload value ${overload.toString('hex')}`);
    // RFC 2131 §4.1: file is read before sname.
    if (overload[0] & 1) {
      const e = readRegion(buf, FILE_AT, FILE_AT + 128, options);
      if (e) return fail('option-truncated', `in file field: ${e}`);
      file = '';
    }
    if (overload[0] & 2) {
      const e = readRegion(buf, SNAME_AT, SNAME_AT + 64, options);
      if (e) return fail('option-truncated', `in sname field: ${e}`);
      sname = '';
    }
  }
  for (const [code, data] of options)
    if (!lengthOk(code, data.length)) return fail('option-length', `option ${code} has invalid length ${data.length}`);

  return {
    ok: true,
    packet: {
      op,
      htype: buf[1],
      hlen,
      hops: buf[3],
      xid: buf.readUInt32BE(4),
      secs: buf.readUInt16BE(8),
      flags: buf.readUInt16BE(10),
      ciaddr: ip(buf, 12),
      yiaddr: ip(buf, 16),
      siaddr: ip(buf, 20),
      giaddr: ip(buf, 24),
      chaddr: Buffer.from(buf.subarray(28, 44)),
      sname,
      file,
      options,
    },
  };
}

function writeIp(buf: Buffer, at: number, addr: string): void {
  const parts = addr.split('.');
  for (let k = 0; k < 4; k++) buf[at + k] = Number(parts[k]) & 255;
}

/**
 * Serializes without overload: kickstand's replies fit in the options field. Options longer
 * than 255 bytes are split into consecutive instances (RFC 3396). The result is padded to
 * `minSize` (at least 300, RFC 1542).
 */
export function serializeDhcp(p: DhcpPacket, minSize = MIN_PACKET): Buffer {
  let optLen = 1;
  for (const [code, data] of p.options) {
    if (code === Opt.PAD || code === Opt.END) continue;
    optLen += Math.max(1, Math.ceil(data.length / 255)) * 2 + data.length;
  }
  const buf = Buffer.alloc(Math.max(minSize, OPTIONS_AT + optLen));
  buf[0] = p.op;
  buf[1] = p.htype;
  buf[2] = p.hlen;
  buf[3] = p.hops;
  buf.writeUInt32BE(p.xid >>> 0, 4);
  buf.writeUInt16BE(p.secs & 0xffff, 8);
  buf.writeUInt16BE(p.flags & 0xffff, 10);
  writeIp(buf, 12, p.ciaddr);
  writeIp(buf, 16, p.yiaddr);
  writeIp(buf, 20, p.siaddr);
  writeIp(buf, 24, p.giaddr);
  p.chaddr.copy(buf, 28, 0, 16);
  buf.write(p.sname.slice(0, 63), SNAME_AT, 'latin1');
  buf.write(p.file.slice(0, 127), FILE_AT, 'latin1');
  buf.writeUInt32BE(COOKIE, HEADER_LEN);
  let i = OPTIONS_AT;
  for (const [code, data] of p.options) {
    if (code === Opt.PAD || code === Opt.END) continue;
    let off = 0;
    do {
      const chunk = data.subarray(off, off + 255);
      buf[i++] = code;
      buf[i++] = chunk.length;
      chunk.copy(buf, i);
      i += chunk.length;
      off += 255;
    } while (off < data.length);
  }
  buf[i] = Opt.END;
  return buf;
}

/** The client's MAC in canonical form, when chaddr holds an Ethernet address. */
export function clientMac(p: DhcpPacket): string | undefined {
  if (p.htype !== 1 || p.hlen !== 6) return undefined;
  return ethernetMac(p.chaddr);
}

/** clientMac of a packet not parsed yet (htype, hlen and chaddr sit at fixed offsets), if it is long enough to be one. */
export function rawClientMac(buf: Buffer): string | undefined {
  if (buf.length < HEADER_LEN || buf[1] !== 1 || buf[2] !== 6) return undefined;
  return ethernetMac(buf.subarray(28, 34));
}

function ethernetMac(chaddr: Buffer): string {
  return [...chaddr.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

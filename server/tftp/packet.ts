/**
 * TFTP packet codec (RFC 1350, options RFC 2347). Pure: bytes in, values out, and back.
 * Parsing never throws; anything that does not decode is reported as a reason string so the
 * caller can answer with an ERROR or drop and count it.
 */

export const Opcode = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

export const ErrorCode = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Options in request order; names lower-cased (RFC 2347: case-insensitive), first occurrence wins. */
export type Options = Map<string, string>;

export type Packet =
  | { op: 'rrq' | 'wrq'; filename: string; mode: string; options: Options }
  | { op: 'data'; block: number; data: Buffer }
  | { op: 'ack'; block: number }
  | { op: 'error'; code: number; message: string }
  | { op: 'oack'; options: Options };

export type Parsed = { ok: true; packet: Packet } | { ok: false; reason: string };

/** Longest string field we accept; a request is one datagram, this only bounds junk. */
const MAX_FIELD = 1024;

function fail(reason: string): Parsed {
  return { ok: false, reason };
}

/** Splits NUL-terminated strings. Returns undefined when the last field lacks its NUL. */
function cStrings(buf: Buffer, start: number): string[] | undefined {
  const out: string[] = [];
  let pos = start;
  while (pos < buf.length) {
    const end = buf.indexOf(0, pos);
    if (end < 0) return undefined;
    // latin1 keeps every byte as one char, so non-ASCII junk cannot hide behind U+FFFD.
    out.push(buf.toString('latin1', pos, end));
    pos = end + 1;
  }
  return out;
}

function parseOptions(fields: string[]): Options | string {
  // Some PXE ROMs pad requests with extra NULs: trailing empty fields are not options.
  let n = fields.length;
  while (n > 0 && fields[n - 1] === '') n--;
  if (n % 2 !== 0) return 'option without value';
  const options: Options = new Map();
  for (let i = 0; i < n; i += 2) {
    const name = fields[i].toLowerCase();
    if (name === '') return 'empty option name';
    if (!options.has(name)) options.set(name, fields[i + 1]);
  }
  return options;
}

export function parsePacket(buf: Buffer): Parsed {
  if (buf.length < 2) return fail('shorter than an opcode');
  const opcode = buf.readUInt16BE(0);
  switch (opcode) {
    case Opcode.RRQ:
    case Opcode.WRQ: {
      const fields = cStrings(buf, 2);
      if (!fields) return fail('request field not NUL-terminated');
      if (fields.length < 2) return fail('request without filename and mode');
      const [filename, mode, ...rest] = fields;
      if (filename.length === 0) return fail('empty filename');
      if (filename.length > MAX_FIELD || mode.length > MAX_FIELD) return fail('field too long');
      const options = parseOptions(rest);
      if (typeof options === 'string') return fail(options);
      return { ok: true, packet: { op: opcode === Opcode.RRQ ? 'rrq' : 'wrq', filename, mode: mode.toLowerCase(), options } };
    }
    case Opcode.DATA:
      if (buf.length < 4) return fail('short DATA');
      return { ok: true, packet: { op: 'data', block: buf.readUInt16BE(2), data: buf.subarray(4) } };
    case Opcode.ACK:
      if (buf.length < 4) return fail('short ACK');
      return { ok: true, packet: { op: 'ack', block: buf.readUInt16BE(2) } };
    case Opcode.ERROR: {
      if (buf.length < 4) return fail('short ERROR');
      // The message is informational; a missing NUL is tolerated, it must not hide the abort.
      const end = buf.indexOf(0, 4);
      const message = buf.toString('latin1', 4, end < 0 ? Math.min(buf.length, 4 + MAX_FIELD) : Math.min(end, 4 + MAX_FIELD));
      return { ok: true, packet: { op: 'error', code: buf.readUInt16BE(2), message } };
    }
    case Opcode.OACK: {
      const fields = cStrings(buf, 2);
      if (!fields) return fail('OACK field not NUL-terminated');
      const options = parseOptions(fields);
      if (typeof options === 'string') return fail(options);
      return { ok: true, packet: { op: 'oack', options } };
    }
    default:
      return fail(`unknown opcode ${opcode}`);
  }
}

/** The 4-byte DATA header; the payload is sent beside it (scatter/gather), never copied. */
export function dataHeader(block: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(Opcode.DATA, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

export function encodeAck(block: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(Opcode.ACK, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

function encodeStrings(opcode: number, strings: string[]): Buffer {
  const parts = [Buffer.from([opcode >> 8, opcode & 0xff])];
  for (const s of strings) parts.push(Buffer.from(s, 'latin1'), Buffer.alloc(1));
  return Buffer.concat(parts);
}

export function encodeRequest(op: 'rrq' | 'wrq', filename: string, mode: string, options: Options = new Map()): Buffer {
  return encodeStrings(op === 'rrq' ? Opcode.RRQ : Opcode.WRQ, [filename, mode, ...[...options].flat()]);
}

export function encodeOack(options: Options): Buffer {
  return encodeStrings(Opcode.OACK, [...options].flat());
}

export function encodeError(code: ErrorCode, message: string): Buffer {
  const msg = Buffer.from(message, 'latin1');
  const b = Buffer.alloc(5 + msg.length);
  b.writeUInt16BE(Opcode.ERROR, 0);
  b.writeUInt16BE(code, 2);
  msg.copy(b, 4);
  return b;
}

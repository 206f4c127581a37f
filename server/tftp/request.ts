/**
 * What the server answers to a datagram on its well-known port. Pure: the socket shell only
 * carries out the decision. Only reads are served; the server never writes to its root.
 */
import { ErrorCode, parsePacket, type Options } from './packet.js';
import { safeRelativePath } from '../files/path.js';

export type Decision =
  | { kind: 'read'; path: string; netascii: boolean; options: Options; filename: string }
  | { kind: 'refuse'; code: ErrorCode; message: string; filename?: string }
  /** Not a request: garbage or a packet that belongs to a transfer port. Dropped and counted. */
  | { kind: 'drop'; reason: string };

export function decideRequest(datagram: Buffer): Decision {
  const parsed = parsePacket(datagram);
  if (!parsed.ok) return { kind: 'drop', reason: parsed.reason };
  const packet = parsed.packet;
  if (packet.op === 'wrq') {
    return { kind: 'refuse', code: ErrorCode.ACCESS_VIOLATION, message: 'Access violation: read-only server', filename: packet.filename };
  }
  if (packet.op !== 'rrq') return { kind: 'drop', reason: `${packet.op} on the request port` };
  if (packet.mode !== 'octet' && packet.mode !== 'netascii') {
    return { kind: 'refuse', code: ErrorCode.ILLEGAL_OPERATION, message: `Unsupported mode: ${packet.mode.slice(0, 32)}`, filename: packet.filename };
  }
  const safe = safeRelativePath(packet.filename);
  if (!safe.ok) return { kind: 'refuse', code: ErrorCode.ACCESS_VIOLATION, message: `Access violation: ${safe.reason}`, filename: packet.filename };
  return { kind: 'read', path: safe.path, netascii: packet.mode === 'netascii', options: packet.options, filename: packet.filename };
}

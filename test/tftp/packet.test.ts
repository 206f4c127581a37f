import t from 'tap';
import { encodeAck, encodeError, encodeOack, encodeRequest, ErrorCode, parsePacket } from '../../server/tftp/packet.js';
import { toNetascii } from '../../server/tftp/netascii.js';

const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

t.test('RRQ with options: names case-insensitive, first occurrence wins, order kept', async (t) => {
  const parsed = parsePacket(bytes([0, 1], 'undionly.kpxe\0OCTET\0BlkSize\x001468\0tsize\x000\0blksize\x00512\0'));
  t.ok(parsed.ok);
  if (!parsed.ok) return;
  t.same(parsed.packet, { op: 'rrq', filename: 'undionly.kpxe', mode: 'octet', options: new Map([['blksize', '1468'], ['tsize', '0']]) });
});

t.test('trailing NUL padding (some PXE ROMs) is not an option', async (t) => {
  const parsed = parsePacket(bytes([0, 1], 'a\0octet\0tsize\x000\0\0\0'));
  t.ok(parsed.ok && parsed.packet.op === 'rrq' && parsed.packet.options.get('tsize') === '0');
});

t.test('malformed requests are reported, not thrown', async (t) => {
  const cases: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from([0])],
    ['no NUL after filename', bytes([0, 1], 'file')],
    ['no mode', bytes([0, 1], 'file\0')],
    ['mode not terminated', bytes([0, 1], 'file\0octet')],
    ['empty filename', bytes([0, 1], '\0octet\0')],
    ['option without value', bytes([0, 1], 'f\0octet\0blksize\0')],
    ['unknown opcode', Buffer.from([0, 9, 0, 1])],
    ['opcode 0', Buffer.from([0, 0, 0, 0])],
    ['short ACK', Buffer.from([0, 4, 0])],
    ['OACK unterminated', bytes([0, 6], 'blksize\x00512')],
    ['huge filename', Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(2000, 0x61), bytes('\0octet\0')])],
  ];
  for (const [name, buf] of cases) t.equal(parsePacket(buf).ok, false, name);
});

t.test('ACK, DATA, ERROR, OACK', async (t) => {
  t.same(parsePacket(Buffer.from([0, 4, 0xff, 0xfe])), { ok: true, packet: { op: 'ack', block: 65534 } });
  const data = parsePacket(Buffer.from([0, 3, 0, 7, 1, 2, 3]));
  t.ok(data.ok && data.packet.op === 'data' && data.packet.block === 7 && data.packet.data.equals(Buffer.from([1, 2, 3])));
  t.same(parsePacket(bytes([0, 5, 0, 8], 'no\0')), { ok: true, packet: { op: 'error', code: 8, message: 'no' } });
  t.same(parsePacket(bytes([0, 5, 0, 1], 'unterminated')), { ok: true, packet: { op: 'error', code: 1, message: 'unterminated' } }, 'an ERROR is honoured even without its NUL');
  t.same(parsePacket(encodeOack(new Map([['blksize', '1468']]))), { ok: true, packet: { op: 'oack', options: new Map([['blksize', '1468']]) } });
});

t.test('encoders produce the RFC byte layout', async (t) => {
  t.same([...encodeAck(65536 + 3)], [0, 4, 0, 3], 'block numbers wrap to 16 bits');
  t.same([...encodeError(ErrorCode.FILE_NOT_FOUND, 'File not found')], [0, 5, 0, 1, ...Buffer.from('File not found'), 0]);
  t.same(encodeRequest('rrq', 'x', 'octet', new Map([['tsize', '0']])), bytes([0, 1], 'x\0octet\0tsize\x000\0'));
  t.same([...encodeOack(new Map([['tsize', '5'], ['blksize', '8']]))], [0, 6, ...Buffer.from('tsize\x005\0blksize\x008\0')]);
});

t.test('netascii: LF becomes CR LF, a lone CR becomes CR NUL', async (t) => {
  t.same(toNetascii(Buffer.from('a\nb\rc\r\n')), Buffer.from('a\r\nb\r\0c\r\0\r\n'));
  const plain = Buffer.from('no newline');
  t.equal(toNetascii(plain), plain, 'unchanged input is not copied');
});

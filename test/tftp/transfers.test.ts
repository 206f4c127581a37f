/** Transfer-level behaviour seen from a raw client: loss, retransmission, bounds, aborts. */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { encodeAck, encodeError, encodeRequest, ErrorCode } from '../../server/tftp/packet.js';
import { startTftpServer } from '../../server/tftp/server.js';
import { attempt, run, until, withServer } from './fixture.js';
import { RawClient } from './raw-client.js';

/** A dead client is given up (3 + 1) × 100 ms after the last new send. */
const TIMING = { retransmitMs: 100, retries: 3 };

async function client(t: Test): Promise<RawClient> {
  const c = await RawClient.open();
  t.teardown(() => c.close());
  return c;
}

t.test('a lost DATA packet is retransmitted and the transfer completes', async (t) => {
  const f = await withServer(t, TIMING);
  const bytes = randomBytes(1300);
  await writeFile(path.join(f.root, 'file'), bytes);
  const c = await client(t);
  const requestedAt = Date.now();
  c.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
  const first = await c.next(1000);
  t.match(first?.packet, { op: 'data', block: 1 });
  const again = await c.next(1000); // we "lost" the first copy: no ACK
  t.match(again?.packet, { op: 'data', block: 1 }, 'same block again');
  t.ok(Date.now() - requestedAt >= 95, 'after the retransmission timeout');
  t.not(again?.port, f.server.port, 'from the transfer port, not the request port');
  const got: Buffer[] = [];
  let reply = again;
  while (reply?.packet?.op === 'data') {
    got.push(reply.packet.data);
    c.send(encodeAck(reply.packet.block), reply.port);
    if (reply.packet.data.length < 512) break;
    reply = await c.next(1000);
  }
  t.ok(Buffer.concat(got).equals(bytes), 'content intact');
  await until(() => f.server.stats().completed === 1);
  t.ok(f.server.stats().retransmissions >= 1);
  t.match(f.events.at(-1), { level: 'info', data: { bytes: 1300, retransmissions: Number } });
});

t.test('a client that stops acking: retransmitted every timeout, then given up once the retries are spent', async (t) => {
  const f = await withServer(t, TIMING);
  await writeFile(path.join(f.root, 'file'), randomBytes(5000));
  const c = await client(t);
  const start = Date.now();
  c.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
  const arrivals: number[] = [];
  for (let r = await c.next(1000); r; r = await c.next(1000)) {
    t.match(r.packet, { op: 'data', block: 1 });
    arrivals.push(Date.now() - start);
  }
  const gaps = arrivals.slice(1).map((a, i) => a - arrivals[i]);
  t.equal(arrivals.length, 4, `block 1 and 3 retransmissions, at ${arrivals.join(', ')} ms`);
  t.ok(gaps.every((g) => g >= 90 && g < 400), `one timeout apart, no backoff: ${gaps.join(', ')} ms`);
  t.same(f.server.stats(), { ...f.server.stats(), active: 0, failed: 1, completed: 0 }, 'transfer gone');
  t.match(f.events.at(-1), { level: 'warn', message: /failed: no ACK after 3 retransmissions 100 ms apart/ });
});

t.test('the final block is retransmitted; a client that vanishes before its final ACK frees the slot once the retries are spent', async (t) => {
  const f = await withServer(t, { ...TIMING, maxTransfers: 1 });
  await writeFile(path.join(f.root, 'file'), randomBytes(700));
  const c = await client(t);
  const start = Date.now();
  c.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
  const first = await c.next(1000);
  c.send(encodeAck(1), first!.port);
  const finals: number[] = [];
  for (let r = await c.next(1000); r; r = await c.next(1000)) {
    t.match(r.packet, { op: 'data', block: 2 }, 'the final block, 188 bytes');
    finals.push(Date.now() - start);
  }
  t.equal(finals.length, 4, `the final block went out once and was retransmitted 3 times (${finals.join(', ')} ms): its ACK may be lost`);
  t.ok(finals.at(-1)! < 800, 'within the retries');
  await until(() => f.server.stats().active === 0, 300);
  t.match(f.server.stats(), { unacknowledged: 1, failed: 0, completed: 0 }, 'every block went out: unacknowledged, not failed');
  t.match(f.events.at(-1), { level: 'info', message: /file sent 700 bytes in \d+ ms, the final ACK never came: no ACK after 3 retransmissions/ });
  const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{size_download}', f.url('file')]);
  t.equal(stdout, '700', 'the only slot serves the next client');
});

t.test('windowed transfer: the client reports a lost block, the server resends from there', async (t) => {
  const f = await withServer(t, TIMING);
  const bytes = randomBytes(512 * 9 + 10);
  await writeFile(path.join(f.root, 'file'), bytes);
  const c = await client(t);
  c.send(encodeRequest('rrq', 'file', 'octet', new Map([['blksize', '512'], ['windowsize', '4']])), f.server.port);
  const oack = await c.next(1000);
  t.match(oack?.packet, { op: 'oack', options: new Map([['blksize', '512'], ['windowsize', '4']]) });
  const port = oack!.port;
  const blocks = new Map<number, Buffer>();
  let lossPlayed = false;
  let expected = 1;
  c.send(encodeAck(0), port);
  while (expected <= 10) {
    const r = await c.next(1000);
    if (r?.packet?.op !== 'data') break;
    const { block, data } = r.packet;
    if (block === 2 && !lossPlayed) {
      lossPlayed = true; // drop it; 3 and 4 arrive out of order and are discarded like a real receiver would
      continue;
    }
    if (block !== expected) {
      if (block === 4 || block === 10) c.send(encodeAck(expected - 1), port);
      continue;
    }
    blocks.set(block, data);
    expected++;
    if (block % 4 === 0 || block === 10) c.send(encodeAck(block), port);
  }
  t.ok(Buffer.concat([...blocks.values()]).equals(bytes), 'content intact');
  await until(() => f.server.stats().completed === 1);
  t.ok(f.server.stats().retransmissions >= 3, 'blocks 2-4 resent');
});

t.test('maxTransfers bounds concurrent transfers: a request beyond gets an ERROR; a freed slot is usable again', async (t) => {
  const f = await withServer(t, { ...TIMING, maxTransfers: 2 });
  await writeFile(path.join(f.root, 'file'), randomBytes(2000));
  const stalled = [await client(t), await client(t)];
  for (const c of stalled) {
    c.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
    t.match((await c.next(1000))?.packet, { op: 'data', block: 1 });
  }
  const third = await client(t);
  third.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
  const refused = await third.next(300);
  t.match(refused, { port: f.server.port, packet: { op: 'error', code: ErrorCode.NOT_DEFINED, message: 'Server busy, try again' } }, 'the third request is told the server is busy');
  t.match(f.server.stats(), { busy: 1, started: 2 });
  t.match(f.events.at(-1), { level: 'warn', message: 'TFTP refused "file": Server busy, try again' });
  const busybox = await attempt('busybox', ['tftp', '-g', '-r', 'file', '-l', '/dev/null', '127.0.0.1', String(f.server.port)]);
  t.not(busybox.code, 0);
  t.match(busybox.stderr, /Server busy, try again/, `busybox tftp shows the server's reason: ${busybox.stderr.trim()}`);
  await until(() => f.server.stats().active === 0, 3000);
  const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{size_download}', f.url('file')]);
  t.equal(stdout, '2000', 'once the stalled transfers are given up, a client succeeds');
});

t.test('one address cannot take every slot: maxTransfersPerAddress, then an ERROR; other addresses go on', async (t) => {
  const f = await withServer(t, { ...TIMING, maxTransfers: 64, maxTransfersPerAddress: 3 });
  await writeFile(path.join(f.root, 'file'), randomBytes(2000));
  for (let i = 0; i < 3; i++) {
    const c = await client(t);
    c.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
    t.match((await c.next(1000))?.packet, { op: 'data', block: 1 }, `transfer ${i + 1} from 127.0.0.1`);
  }
  const fourth = await client(t);
  fourth.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
  t.match((await fourth.next(300))?.packet, { op: 'error', code: ErrorCode.NOT_DEFINED, message: 'Too many transfers from this address (3)' });
  const atftp = await attempt('atftp', ['-g', '-r', 'file', '-l', '/dev/null', '127.0.0.1', String(f.server.port)]);
  t.not(atftp.code, 0);
  t.match(atftp.stdout + atftp.stderr, /Too many transfers from this address/, 'atftp shows the reason');
  t.match(f.server.stats(), { addressLimited: 2, busy: 0, active: 3 });
  const other = await RawClient.open('127.0.0.2');
  t.teardown(() => other.close());
  other.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
  t.match((await other.next(500))?.packet, { op: 'data', block: 1 }, 'another address is served');
});

t.test('a generator that never answers releases its slot within the bound of a dead client', async (t) => {
  const f = await withServer(t, { ...TIMING, maxTransfers: 1, generate: (p) => (p === 'hang' ? new Promise(() => {}) : Promise.resolve(undefined)) });
  await writeFile(path.join(f.root, 'file'), 'ok');
  const c = await client(t);
  c.send(encodeRequest('rrq', 'hang', 'octet'), f.server.port);
  t.match((await c.next(2000))?.packet, { op: 'error', code: ErrorCode.NOT_DEFINED, message: /Timed out/ });
  t.equal(f.server.stats().active, 0);
  t.equal((await run('curl', ['-sS', f.url('file')])).stdout, 'ok', 'the only slot is free again');
});

t.test('one client port gets at most two transfers at a time', async (t) => {
  // Given up after 1.1 s: the first 600 ms of retransmissions are watched while both still run.
  const f = await withServer(t, { retransmitMs: 100, retries: 10 });
  for (const name of ['a', 'b', 'c']) await writeFile(path.join(f.root, name), 'x');
  const c = await client(t);
  for (const name of ['a', 'b', 'c']) c.send(encodeRequest('rrq', name, 'octet'), f.server.port);
  const ports = new Set<number>();
  const watchUntil = Date.now() + 600;
  for (let r = await c.next(500); r && Date.now() < watchUntil; r = await c.next(300)) ports.add(r.port);
  t.equal(ports.size, 2, 'two transfers answered (retransmissions included)');
  t.match(f.server.stats(), { portLimited: 1, busy: 0, active: 2 });
  const other = await client(t);
  other.send(encodeRequest('rrq', 'c', 'octet'), f.server.port);
  t.match((await other.next(500))?.packet, { op: 'data', block: 1 }, 'other clients are not affected');
});

t.test('a retransmitted request does not start a second transfer', async (t) => {
  const f = await withServer(t, TIMING);
  await writeFile(path.join(f.root, 'file'), 'abc');
  const c = await client(t);
  c.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
  c.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
  const r = await c.next(1000);
  t.match(r?.packet, { op: 'data', block: 1 });
  c.send(encodeAck(1), r!.port);
  await until(() => f.server.stats().completed === 1);
  t.match(f.server.stats(), { started: 1, duplicateRequests: 1 });
  t.equal(await c.next(200), undefined, 'no second stream of DATA');
});

t.test('a size probe and the real download back to back from one port are both served', async (t) => {
  const f = await withServer(t, TIMING);
  const bytes = randomBytes(700);
  await writeFile(path.join(f.root, 'file'), bytes);
  const c = await client(t);
  c.send(encodeRequest('rrq', 'file', 'octet', new Map([['tsize', '0']])), f.server.port);
  const oack = await c.next(1000);
  t.match(oack?.packet, { op: 'oack', options: new Map([['tsize', '700']]) });
  // The new request goes out before the server can have seen the abort on the other port.
  c.send(encodeRequest('rrq', 'file', 'octet', new Map([['blksize', '1024']])), f.server.port);
  c.send(encodeError(ErrorCode.OPTION_REFUSED, 'probe'), oack!.port);
  let r = await c.next(1000);
  while (r && r.packet?.op === 'oack' && r.port === oack!.port) r = await c.next(1000); // a retransmitted probe OACK
  t.match(r?.packet, { op: 'oack', options: new Map([['blksize', '1024']]) });
  c.send(encodeAck(0), r!.port);
  const data = await c.next(1000);
  t.ok(data?.packet?.op === 'data' && data.packet.data.equals(bytes), 'whole file in one 1024-byte block');
  c.send(encodeAck(1), r!.port);
  await until(() => f.server.stats().completed === 1 && f.server.stats().probes === 1);
});

t.test('ends decided by the client: a size probe, an abort mid-transfer, a vanished client', async (t) => {
  const f = await withServer(t, { retransmitMs: 100, retries: 10 });
  await writeFile(path.join(f.root, 'file'), randomBytes(3000));
  const c = await client(t);
  // A PXE ROM's size probe: ask tsize, read the OACK, abort with ERROR 8. Normal, not a failure.
  c.send(encodeRequest('rrq', 'file', 'octet', new Map([['tsize', '0']])), f.server.port);
  const oack = await c.next(1000);
  t.match(oack?.packet, { op: 'oack', options: new Map([['tsize', '3000']]) });
  c.send(encodeError(ErrorCode.OPTION_REFUSED, 'tsize probe only'), oack!.port);
  await until(() => f.server.stats().probes === 1);
  t.match(f.events.at(-1), { level: 'info', message: /file ended by the client after the OACK \(size probe\?\): peer sent ERROR after the OACK: tsize probe only/ });

  // An ERROR after data flowed is a failure.
  const c2 = await client(t);
  c2.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
  const d1 = await c2.next(1000);
  c2.send(encodeAck(1), d1!.port);
  await c2.next(1000);
  c2.send(encodeError(ErrorCode.DISK_FULL, 'disk full'), d1!.port);
  await until(() => f.server.stats().failed === 1);
  t.match(f.events.at(-1), { level: 'warn', message: /failed: peer sent ERROR: disk full/ });

  const gone = await RawClient.open();
  const started = Date.now();
  gone.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
  await gone.next(1000);
  gone.close(); // the retransmission now meets ICMP port unreachable
  await until(() => f.server.stats().failed === 2, 3000);
  t.ok(Date.now() - started < 900, 'ended at the first retransmission, before the retries are spent (1100 ms)');
  t.match(f.server.stats(), { active: 0, completed: 0, probes: 1, failed: 2 });

  // The same after the last block (its ACK lost, the port closed): every block went out.
  await writeFile(path.join(f.root, 'small'), 'abc');
  const late = await RawClient.open();
  const lateStart = Date.now();
  late.send(encodeRequest('rrq', 'small', 'octet'), f.server.port);
  t.match((await late.next(1000))?.packet, { op: 'data', block: 1 });
  late.close();
  await until(() => f.server.stats().unacknowledged === 1, 3000);
  t.ok(Date.now() - lateStart < 900, 'ended at the first retransmission of the final block');
  t.match(f.events.at(-1), { level: 'info', message: /small sent 3 bytes in \d+ ms, the final ACK never came: socket: ECONNREFUSED/ });
  t.match(f.server.stats(), { active: 0, failed: 2, unacknowledged: 1 });
});

t.test('start-up fails cleanly when the port is taken; close() ends running transfers', async (t) => {
  const f = await withServer(t, TIMING);
  await t.rejects(startTftpServer({ root: f.root, host: '127.0.0.1', port: f.server.port, maxTransfers: 1, maxTransfersPerAddress: 1, sink: { report: () => {} } }), { code: 'EADDRINUSE' });
  await writeFile(path.join(f.root, 'file'), randomBytes(5000));
  const c = await client(t);
  c.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
  await c.next(1000);
  t.equal(f.server.stats().active, 1);
  await f.server.close();
  t.equal(f.server.stats().active, 0);
  t.match(f.events.at(-1), { message: /failed: server closing/ });
});

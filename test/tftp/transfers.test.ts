/** Transfer-level behaviour seen from a raw client: loss, retransmission, bounds, aborts. */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { encodeAck, encodeError, encodeRequest, ErrorCode } from '../../server/tftp/packet.js';
import { startTftpServer } from '../../server/tftp/server.js';
import { run, until, withServer } from './fixture.js';
import { RawClient } from './raw-client.js';

const TIMING = { retransmitMs: 100, idleTimeoutSeconds: 1 };

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

t.test('a client that stops acking: backoff, then cleaned up at the idle bound', async (t) => {
  const f = await withServer(t, TIMING);
  await writeFile(path.join(f.root, 'file'), randomBytes(5000));
  const c = await client(t);
  const start = Date.now();
  c.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
  const arrivals: number[] = [];
  for (let r = await c.next(1500); r; r = await c.next(1500)) arrivals.push(Date.now() - start);
  const gaps = arrivals.slice(1).map((a, i) => a - arrivals[i]);
  t.ok(arrivals.length >= 3 && arrivals.length <= 6, `copies at ${arrivals.join(', ')} ms`);
  t.ok(gaps[1] > gaps[0] * 1.4, `gaps grow: ${gaps.join(', ')}`);
  t.same(f.server.stats(), { ...f.server.stats(), active: 0, failed: 1, completed: 0 }, 'transfer gone');
  t.match(f.events.at(-1), { level: 'warn', message: /failed: no answer for 1000 ms/ });
  t.ok(arrivals.at(-1)! < 1300, 'nothing sent after the idle bound');
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

t.test('maxTransfers bounds concurrent transfers; a freed slot is usable again', async (t) => {
  const f = await withServer(t, { ...TIMING, maxTransfers: 2 });
  await writeFile(path.join(f.root, 'file'), randomBytes(2000));
  const stalled = [await client(t), await client(t)];
  for (const c of stalled) {
    c.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
    t.match((await c.next(1000))?.packet, { op: 'data', block: 1 });
  }
  const third = await client(t);
  third.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
  t.equal(await third.next(300), undefined, 'third request gets no answer while two run');
  t.equal(f.server.stats().busy, 1);
  await until(() => f.server.stats().active === 0, 3000);
  const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{size_download}', f.url('file')]);
  t.equal(stdout, '2000', 'after the idle bound freed the slots, a client succeeds');
});

t.test('a generator that never answers releases its slot at the idle bound', async (t) => {
  const f = await withServer(t, { ...TIMING, maxTransfers: 1, generate: (p) => (p === 'hang' ? new Promise(() => {}) : Promise.resolve(undefined)) });
  await writeFile(path.join(f.root, 'file'), 'ok');
  const c = await client(t);
  c.send(encodeRequest('rrq', 'hang', 'octet'), f.server.port);
  t.match((await c.next(2000))?.packet, { op: 'error', code: ErrorCode.NOT_DEFINED, message: /Timed out/ });
  t.equal(f.server.stats().active, 0);
  t.equal((await run('curl', ['-sS', f.url('file')])).stdout, 'ok', 'the only slot is free again');
});

t.test('one client port gets at most two transfers at a time', async (t) => {
  const f = await withServer(t, TIMING);
  for (const name of ['a', 'b', 'c']) await writeFile(path.join(f.root, name), 'x');
  const c = await client(t);
  for (const name of ['a', 'b', 'c']) c.send(encodeRequest('rrq', name, 'octet'), f.server.port);
  const ports = new Set<number>();
  for (let r = await c.next(500); r; r = await c.next(300)) ports.add(r.port);
  t.equal(ports.size, 2, 'two transfers answered (retransmissions included)');
  t.match(f.server.stats(), { busy: 1, active: 2 });
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
  const f = await withServer(t, TIMING);
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
  t.ok(Date.now() - started < 900, 'ended before the idle bound');
  t.match(f.server.stats(), { active: 0, completed: 0, probes: 1, failed: 2 });
});

t.test('start-up fails cleanly when the port is taken; close() ends running transfers', async (t) => {
  const f = await withServer(t, TIMING);
  await t.rejects(startTftpServer({ root: f.root, host: '127.0.0.1', port: f.server.port, maxTransfers: 1, idleTimeoutSeconds: 1, sink: { report: () => {} } }), { code: 'EADDRINUSE' });
  await writeFile(path.join(f.root, 'file'), randomBytes(5000));
  const c = await client(t);
  c.send(encodeRequest('rrq', 'file', 'octet'), f.server.port);
  await c.next(1000);
  t.equal(f.server.stats().active, 1);
  await f.server.close();
  t.equal(f.server.stats().active, 0);
  t.match(f.events.at(-1), { message: /failed: server closing/ });
});

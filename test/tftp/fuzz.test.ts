/**
 * Mutated and random TFTP datagrams: 100,000 through the pure decision path (codec, request
 * rules, negotiation, sender), then a burst over real sockets at both the request port and a
 * running transfer's port. Seeded, so a failure reproduces.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { negotiate } from '../../server/tftp/options.js';
import { encodeAck, encodeError, encodeOack, encodeRequest, parsePacket } from '../../server/tftp/packet.js';
import { decideRequest } from '../../server/tftp/request.js';
import { Sender } from '../../server/tftp/sender.js';
import { run, until, withServer } from './fixture.js';
import { RawClient } from './raw-client.js';

function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const CORPUS: Buffer[] = [
  encodeRequest('rrq', 'undionly.kpxe', 'octet'),
  encodeRequest('rrq', 'ipxe.efi', 'octet', new Map([['tsize', '0'], ['blksize', '1468'], ['timeout', '6']])),
  encodeRequest('rrq', 'file', 'octet', new Map([['blksize', '1468'], ['windowsize', '16']])),
  encodeRequest('rrq', '/pxelinux.cfg/01-52-54-00-12-34-56', 'netascii'),
  encodeRequest('rrq', '../../etc/passwd', 'octet'),
  encodeRequest('wrq', 'upload', 'octet', new Map([['tsize', '100']])),
  encodeAck(0),
  encodeAck(65535),
  encodeError(0, 'oops'),
  encodeOack(new Map([['blksize', '512']])),
  Buffer.from([0, 3, 0, 1, 1, 2, 3]),
];

function mutate(rand: () => number): Buffer {
  const pick = (n: number) => Math.floor(rand() * n);
  if (rand() < 0.1) return Buffer.from(Array.from({ length: pick(600) }, () => pick(256)));
  const out = [...CORPUS[pick(CORPUS.length)]];
  for (let m = 1 + pick(4); m > 0; m--) {
    switch (pick(6)) {
      case 0:
        if (out.length) out[pick(out.length)] ^= 1 << pick(8);
        break;
      case 1:
        if (out.length) out[pick(out.length)] = [0, 0xff, 0x2e, 0x2f, 0x5c, 0x25, pick(256)][pick(7)];
        break;
      case 2:
        out.length = pick(out.length + 1);
        break;
      case 3:
        out.splice(pick(out.length + 1), 0, ...Array.from({ length: 1 + pick(20) }, () => pick(256)));
        break;
      case 4: {
        const from = pick(out.length + 1);
        out.splice(pick(out.length + 1), 0, ...out.slice(from, from + pick(40)));
        break;
      }
      case 5:
        out.splice(pick(out.length + 1), 0, ...Buffer.from(['blksize\0', '99999\0', 'windowsize\x000\0', 'tsize\0', '\0\0'][pick(5)], 'latin1'));
        break;
    }
  }
  return Buffer.from(out);
}

t.test('100,000 mutated datagrams through the pure path: no throw, invariants hold', async (t) => {
  const rand = prng(0x4b53);
  const limits = { maxBlksize: 65464, maxWindowsize: 64 };
  const seen = { read: 0, refuse: 0, drop: 0 };
  let sender = new Sender({ size: 5000, blksize: 512, windowsize: 4, oack: true, timeoutMs: 100, retries: 5 });
  sender.start(0);
  let violations = 0;
  const violation = (what: string) => {
    if (violations++ < 5) t.fail(what);
  };
  for (let i = 0; i < 100_000; i++) {
    const datagram = mutate(rand);
    const decision = decideRequest(datagram);
    seen[decision.kind]++;
    if (decision.kind === 'read') {
      const p = decision.path;
      if (p.startsWith('/') || p.includes('\\') || p.split('/').includes('..') || /[\x00-\x1f]|%[0-9a-fA-F]{2}/.test(p) || p === '') violation(`unsafe path ${JSON.stringify(p)}`);
      const n = negotiate(decision.options, 5000, limits);
      if (n.blksize < 8 || n.blksize > 65464 || n.windowsize < 1 || n.windowsize > 64) violation(`bad negotiation ${JSON.stringify(n)}`);
      for (const v of n.oack?.values() ?? []) if (!/^[0-9]+$/.test(v)) violation(`OACK value ${v}`);
      sender = new Sender({ size: 5000, blksize: n.blksize, windowsize: n.windowsize, oack: !!n.oack, timeoutMs: 100, retries: 5 });
      sender.start(i);
    }
    // The same datagram as if it arrived on a transfer port.
    const parsed = parsePacket(datagram);
    const step = parsed.ok && parsed.packet.op === 'ack' ? sender.onAck(parsed.packet.block, i) : rand() < 0.01 ? sender.tick(i + 1000) : undefined;
    if (step?.kind === 'send' && (step.first < 0 || step.first > step.last || step.last > sender.totalBlocks)) violation(`bad window ${JSON.stringify(step)}`);
  }
  t.equal(violations, 0, 'no invariant violated');
  t.ok(seen.read > 1000 && seen.refuse > 1000 && seen.drop > 1000, `mix of outcomes: ${JSON.stringify(seen)}`);
});

t.test('a burst of mutated datagrams over the sockets; real clients still succeed', async (t) => {
  // The victim acks between batches only: 30 retransmissions 100 ms apart outlast a slow batch.
  const f = await withServer(t, { retransmitMs: 100, retries: 30 });
  const bytes = randomBytes(200_000);
  for (const name of ['file', 'undionly.kpxe', 'ipxe.efi']) await writeFile(path.join(f.root, name), bytes);
  const rand = prng(0x7466);
  const senders = await Promise.all([1, 2, 3, 4].map(() => RawClient.open()));
  t.teardown(() => senders.forEach((s) => s.close()));

  // A transfer in progress whose port gets junk from its own client, mid-stream.
  const victim = await RawClient.open();
  t.teardown(() => victim.close());
  victim.send(encodeRequest('rrq', 'file', 'octet', new Map([['blksize', '1468']])), f.server.port);
  const oack = await victim.next(1000);
  t.equal(oack?.packet?.op, 'oack');
  victim.send(encodeAck(0), oack!.port);

  // The victim keeps its transfer going between batches, acking in order like a real receiver.
  const got: Buffer[] = [];
  let done = false;
  const pump = async (waitMs: number) => {
    for (let r = await victim.next(waitMs); r && !done; r = await victim.next(waitMs)) {
      if (r.packet?.op !== 'data') continue;
      if (r.packet.block === ((got.length + 1) & 0xffff)) got.push(r.packet.data);
      victim.send(encodeAck(r.packet.block), r.port);
      done = r.packet.data.length < 1468 && r.packet.block === (got.length & 0xffff);
    }
  };

  let sent = 0;
  let junkToTransfer = 0;
  for (let batch = 0; batch < 200; batch++) {
    for (let i = 0; i < 100; i++) {
      senders[i % senders.length].send(mutate(rand), f.server.port);
      sent++;
    }
    for (let i = 0; i < 10; i++) {
      const junk = mutate(rand);
      const parsed = parsePacket(junk);
      if (parsed.ok && (parsed.packet.op === 'ack' || parsed.packet.op === 'error')) continue; // those are protocol, not junk
      victim.send(junk, oack!.port);
      junkToTransfer++;
    }
    await pump(0);
    // Paced by the server, so a loaded machine does not turn the burst into kernel buffer drops.
    await until(() => f.server.stats().received > sent - 100, 2000).catch(() => {});
  }
  await until(() => f.server.stats().received > sent, 5000).catch(() => {}); // + the victim's request
  const afterBurst = f.server.stats();
  t.ok(afterBurst.received >= sent * 0.95, `${afterBurst.received} of ${sent} datagrams reached the request port`);
  t.ok(afterBurst.dropped > 1000, `${afterBurst.dropped} dropped and counted`);
  t.ok(afterBurst.started <= senders.length * 2 + 1, `${afterBurst.started} transfers started: junk from one port cannot take the server's slots`);
  const refusalEvents = f.events.filter((e) => /refused/.test(e.message)).length;
  t.ok(afterBurst.refused > 500 && refusalEvents <= 40, `${afterBurst.refused} refusals, ${refusalEvents} of them reported (rate-limited)`);

  await pump(1000);
  t.ok(done && Buffer.concat(got).equals(bytes), `transfer with ${junkToTransfer} junk datagrams on its port completed byte-exact`);

  const { stdout } = await run('curl', ['-sS', '--tftp-blksize', '1468', f.url('undionly.kpxe')], { encoding: 'buffer' });
  t.ok(stdout.equals(bytes), 'curl afterwards: byte-exact');
  await until(() => f.server.stats().active === 0, 8000);
  t.equal(f.server.stats().active, 0, 'transfers started by fuzzed requests were cleaned up');
});

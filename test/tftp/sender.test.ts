import t from 'tap';
import { Sender, type SenderConfig, type Step } from '../../server/tftp/sender.js';

const base: SenderConfig = { size: 1024, blksize: 512, windowsize: 1, oack: false, timeoutMs: 100, maxTimeoutMs: 400, idleMs: 2000 };
const send = (first: number, last: number): Step => ({ kind: 'send', first, last });

t.test('lock-step transfer of an exact multiple ends with an empty block', async (t) => {
  const s = new Sender(base, 0);
  t.equal(s.totalBlocks, 3);
  t.same(s.blockBounds(3), [1024, 1024]);
  t.same(s.start(0), send(1, 1));
  t.same(s.onAck(1, 1), send(2, 2));
  t.same(s.onAck(2, 2), send(3, 3));
  t.same(s.onAck(3, 3), { kind: 'done' });
});

t.test('empty file: one empty block', async (t) => {
  const s = new Sender({ ...base, size: 0 }, 0);
  t.same(s.start(0), send(1, 1));
  t.same(s.blockBounds(1), [0, 0]);
  t.same(s.onAck(1, 1), { kind: 'done' });
});

t.test('OACK is block 0 and must be acknowledged before data', async (t) => {
  const s = new Sender({ ...base, oack: true }, 0);
  t.same(s.start(0), send(0, 0));
  t.same(s.onAck(1, 1), { kind: 'wait' }, 'an ACK for data never sent is ignored');
  t.same(s.onAck(0, 1), send(1, 1));
});

t.test('lock-step: duplicate ACKs do not trigger sends (Sorcerer\'s Apprentice)', async (t) => {
  const s = new Sender({ ...base, size: 5000 }, 0);
  s.start(0);
  t.same(s.onAck(1, 1), send(2, 2));
  t.same(s.onAck(1, 2), { kind: 'wait' });
  t.same(s.onAck(1, 3), { kind: 'wait' });
  t.same(s.onAck(2, 4), send(3, 3));
});

t.test('retransmission with doubling timeout, capped, then idle failure', async (t) => {
  const s = new Sender(base, 0);
  s.start(0);
  t.same(s.tick(99), { kind: 'wait' });
  t.same(s.tick(100), send(1, 1), 'first retransmit after timeoutMs');
  t.same(s.tick(299), { kind: 'wait' }, 'next one waits twice as long');
  t.same(s.tick(300), send(1, 1));
  t.same(s.tick(700), send(1, 1), 'then 400');
  t.same(s.tick(1099), { kind: 'wait' }, 'capped at maxTimeoutMs');
  t.same(s.tick(1100), send(1, 1));
  t.equal(s.retransmissions, 4);
  t.same(s.onAck(1, 1200), send(2, 2), 'progress resets the timeout');
  t.same(s.tick(1299), { kind: 'wait' });
  t.same(s.tick(1300), send(2, 2));
  t.match(s.tick(3200), { kind: 'fail', reason: /no answer/ }, 'silence for idleMs ends it');
  t.same(s.tick(5000), { kind: 'wait' }, 'and nothing after that');
});

t.test('windowed (RFC 7440): window per ACK, restart after the last good block', async (t) => {
  const s = new Sender({ ...base, size: 512 * 10 + 1, windowsize: 4 }, 0);
  t.equal(s.totalBlocks, 11);
  t.same(s.start(0), send(1, 4));
  t.same(s.onAck(4, 1), send(5, 8));
  t.same(s.onAck(6, 2), send(7, 10), 'blocks 7 and 8 were lost: resend from 7');
  t.same(s.onAck(6, 3), send(7, 10), 'block 7 lost again: one resend on the duplicate');
  t.same(s.onAck(6, 4), { kind: 'wait' }, 'but not one per duplicate');
  t.same(s.onAck(10, 5), send(11, 11));
  t.same(s.onAck(11, 6), { kind: 'done' });
  t.equal(s.retransmissions, 6, 'blocks 7-8 once, then 7-10: new blocks 9-10 are not counted as resent');
});

t.test('block numbers roll over past 65535', async (t) => {
  const s = new Sender({ ...base, size: 8 * 70000, blksize: 8, windowsize: 3 }, 0);
  let step = s.start(0);
  let acks = 0;
  while (step.kind === 'send') {
    step = s.onAck(step.last & 0xffff, acks++);
  }
  t.same(step, { kind: 'done' });
  t.equal(s.totalBlocks, 70001);
  t.equal(acks, Math.ceil(70001 / 3));
  t.same(s.blockBounds(70001), [560000, 560000]);
});

t.test('ERROR right after the OACK is a size probe, not a failure', async (t) => {
  const s = new Sender({ ...base, oack: true }, 0);
  s.start(0);
  t.same(s.onError('tsize'), { kind: 'probe', reason: 'peer sent ERROR after the OACK: tsize' });
  t.same(s.onError('again'), { kind: 'wait' });
});

t.test('ERROR from the peer ends the transfer', async (t) => {
  const s = new Sender(base, 0);
  s.start(0);
  t.same(s.onError('disk full'), { kind: 'fail', reason: 'peer sent ERROR: disk full' });
  t.same(s.onAck(1, 1), { kind: 'wait' });
});

import t from 'tap';
import { Sender, type SenderConfig, type Step } from '../../server/tftp/sender.js';

const base: SenderConfig = { size: 1024, blksize: 512, windowsize: 1, oack: false, timeoutMs: 100, retries: 3 };
const WAIT: Step = { kind: 'wait' };
const send = (first: number, last: number): Step => ({ kind: 'send', first, last });

t.test('lock-step transfer of an exact multiple ends with an empty block', async (t) => {
  const s = new Sender(base);
  t.equal(s.totalBlocks, 3);
  t.same(s.blockBounds(3), [1024, 1024]);
  t.same(s.start(0), send(1, 1));
  t.same(s.onAck(1, 1), send(2, 2));
  t.same(s.onAck(2, 2), send(3, 3));
  t.same(s.onAck(3, 3), { kind: 'done' });
});

t.test('empty file: one empty block', async (t) => {
  const s = new Sender({ ...base, size: 0 });
  t.same(s.start(0), send(1, 1));
  t.same(s.blockBounds(1), [0, 0]);
  t.same(s.onAck(1, 1), { kind: 'done' });
});

t.test('OACK is block 0 and must be acknowledged before data', async (t) => {
  const s = new Sender({ ...base, oack: true });
  t.same(s.start(0), send(0, 0));
  t.same(s.onAck(1, 1), { kind: 'wait' }, 'an ACK for data never sent is ignored');
  t.same(s.onAck(0, 1), send(1, 1));
});

t.test('lock-step: duplicate ACKs do not trigger sends (Sorcerer\'s Apprentice)', async (t) => {
  const s = new Sender({ ...base, size: 5000 });
  s.start(0);
  t.same(s.onAck(1, 1), send(2, 2));
  t.same(s.onAck(1, 2), { kind: 'wait' });
  t.same(s.onAck(1, 3), { kind: 'wait' });
  t.same(s.onAck(2, 4), send(3, 3));
});

t.test('retransmission every timeoutMs (no backoff), given up once the retries are spent', async (t) => {
  const s = new Sender({ ...base, size: 5000 });
  s.start(0);
  t.same(s.tick(99), WAIT);
  t.same(s.tick(100), send(1, 1), 'first retransmission after timeoutMs');
  t.same(s.tick(199), WAIT, 'the next one the same timeout later: the timeout the client asked for, or the server default');
  t.same(s.tick(200), send(1, 1));
  t.same(s.tick(300), send(1, 1));
  t.equal(s.retransmissions, 3);
  t.same(s.tick(399), WAIT);
  t.same(s.tick(400), { kind: 'fail', reason: 'no ACK after 3 retransmissions 100 ms apart' }, 'a dead peer is given up (retries + 1) × timeoutMs after the last new send');
  t.same(s.tick(5000), WAIT, 'and nothing after that');
  t.same(s.onAck(1, 5001), WAIT, 'a late ACK changes nothing');
});

t.test('progress starts the retries afresh', async (t) => {
  const s = new Sender({ ...base, size: 5000 });
  s.start(0);
  s.tick(100);
  s.tick(200);
  t.same(s.onAck(1, 250), send(2, 2));
  for (const at of [350, 450, 550]) t.same(s.tick(at), send(2, 2), `retransmission at ${at}`);
  t.match(s.tick(650), { kind: 'fail' });
});

t.test('the final block is retransmitted (its ACK may be lost); never acknowledged, the transfer ends unacknowledged', async (t) => {
  const s = new Sender(base);
  s.start(0);
  s.onAck(1, 1);
  t.same(s.onAck(2, 2), send(3, 3), 'the final (empty) block');
  t.same(s.tick(102), send(3, 3), 'retransmitted like any other');
  t.same(s.onAck(3, 150), { kind: 'done' }, 'the final ACK of the retransmission ends it');

  const gone = new Sender(base);
  gone.start(0);
  gone.onAck(1, 1);
  gone.onAck(2, 2);
  for (const at of [102, 202, 302]) t.same(gone.tick(at), send(3, 3));
  t.same(gone.tick(402), { kind: 'unacknowledged', reason: 'no ACK after 3 retransmissions 100 ms apart' }, 'every block went out: not a failure, but not confirmed either');
});

t.test('a peer whose port closed (ICMP port unreachable): unacknowledged after the last block, failed before', async (t) => {
  const last = new Sender({ ...base, size: 100 });
  last.start(0);
  t.same(last.lost('socket: ECONNREFUSED'), { kind: 'unacknowledged', reason: 'socket: ECONNREFUSED' });
  t.same(last.lost('again'), WAIT);
  const mid = new Sender({ ...base, size: 5000 });
  mid.start(0);
  t.same(mid.lost('socket: ECONNREFUSED'), { kind: 'fail', reason: 'socket: ECONNREFUSED' });
  const oack = new Sender({ ...base, oack: true });
  oack.start(0);
  t.same(oack.lost('socket: ECONNREFUSED'), { kind: 'fail', reason: 'OACK not acknowledged: socket: ECONNREFUSED' });
});

t.test('windowed (RFC 7440): window per ACK, restart after the last good block', async (t) => {
  const s = new Sender({ ...base, size: 512 * 10 + 1, windowsize: 4 });
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
  const s = new Sender({ ...base, size: 8 * 70000, blksize: 8, windowsize: 3 });
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
  const s = new Sender({ ...base, oack: true });
  s.start(0);
  t.same(s.onError('tsize'), { kind: 'probe', reason: 'peer sent ERROR after the OACK: tsize' });
  t.same(s.onError('again'), { kind: 'wait' });
});

t.test('ERROR from the peer ends the transfer', async (t) => {
  const s = new Sender(base);
  s.start(0);
  t.same(s.onError('disk full'), { kind: 'fail', reason: 'peer sent ERROR: disk full' });
  t.same(s.onAck(1, 1), { kind: 'wait' });
});

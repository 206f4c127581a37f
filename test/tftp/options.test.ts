import t from 'tap';
import { negotiate } from '../../server/tftp/options.js';

const limits = { maxBlksize: 65464, maxWindowsize: 64 };
const opts = (o: Record<string, string>) => new Map(Object.entries(o));

t.test('no options: RFC 1350 defaults and no OACK', async (t) => {
  t.same(negotiate(new Map(), 1000, limits), { blksize: 512, windowsize: 1 });
});

t.test('curl-style blksize + tsize + timeout', async (t) => {
  const n = negotiate(opts({ tsize: '0', blksize: '1468', timeout: '5' }), 123456, limits);
  t.equal(n.blksize, 1468);
  t.equal(n.timeoutMs, 5000);
  t.same([...n.oack!], [['tsize', '123456'], ['blksize', '1468'], ['timeout', '5']], 'OACK in request order, tsize = real size');
});

t.test('a timeout longer than 5 s is refused (left out of the OACK): it would hold a dead transfer for minutes', async (t) => {
  const curl = negotiate(opts({ tsize: '0', blksize: '512', timeout: '6' }), 100, limits);
  t.equal(curl.timeoutMs, undefined, "curl's default ask (6) is refused: the server's own timeout applies");
  t.same([...curl.oack!], [['tsize', '100'], ['blksize', '512']]);
  t.equal(negotiate(opts({ timeout: '255' }), 1, limits).oack, undefined, 'RFC 2349 allows 255; kickstand does not');
  t.equal(negotiate(opts({ timeout: '1' }), 1, limits).timeoutMs, 1000);
});

t.test('values outside the RFC ranges are lowered or left out of the OACK', async (t) => {
  t.equal(negotiate(opts({ blksize: '70000' }), 1, limits).oack?.get('blksize'), '65464');
  t.equal(negotiate(opts({ blksize: '9000' }), 1, { ...limits, maxBlksize: 1468 }).blksize, 1468);
  t.same(negotiate(opts({ blksize: '7' }), 1, limits), { blksize: 512, windowsize: 1 });
  t.same(negotiate(opts({ blksize: '-1', timeout: '0', windowsize: '0' }), 1, limits), { blksize: 512, windowsize: 1 });
  t.same(negotiate(opts({ timeout: '256' }), 1, limits), { blksize: 512, windowsize: 1 });
  t.same(negotiate(opts({ blksize: '1e3' }), 1, limits), { blksize: 512, windowsize: 1 }, 'only plain decimals');
  t.same(negotiate(opts({ blksize: '99999999999' }), 1, limits), { blksize: 512, windowsize: 1 }, 'absurdly long number ignored');
  const w = negotiate(opts({ windowsize: '1000' }), 1, limits);
  t.equal(w.windowsize, 64);
  t.equal(w.oack?.get('windowsize'), '64');
});

t.test('unknown options are ignored; alone they mean no OACK', async (t) => {
  t.same(negotiate(opts({ multicast: '', utimeout: '1000' }), 1, limits), { blksize: 512, windowsize: 1 });
});

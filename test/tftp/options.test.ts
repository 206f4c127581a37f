import t from 'tap';
import { negotiate } from '../../server/tftp/options.js';

const limits = { maxBlksize: 65464, maxWindowsize: 64 };
const opts = (o: Record<string, string>) => new Map(Object.entries(o));

t.test('no options: RFC 1350 defaults and no OACK', async (t) => {
  t.same(negotiate(new Map(), 1000, limits), { blksize: 512, windowsize: 1 });
});

t.test('curl-style blksize + tsize + timeout', async (t) => {
  const n = negotiate(opts({ tsize: '0', blksize: '1468', timeout: '6' }), 123456, limits);
  t.equal(n.blksize, 1468);
  t.equal(n.timeoutMs, 6000);
  t.same([...n.oack!], [['tsize', '123456'], ['blksize', '1468'], ['timeout', '6']], 'OACK in request order, tsize = real size');
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

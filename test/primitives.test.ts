import t from 'tap';
import { canonicalMac, parseCidr } from '../server/model/primitives.js';

t.test('canonicalMac accepts common notations', async (t) => {
  for (const s of ['52:54:00:12:34:56', '52-54-00-12-34-56', '5254.0012.3456', '525400123456', '52:54:00:12:34:56'.toUpperCase()])
    t.equal(canonicalMac(s), '52:54:00:12:34:56', s);
  t.equal(canonicalMac('52:54:00:12:34'), undefined);
  t.equal(canonicalMac('zz:54:00:12:34:56'), undefined);
});

t.test('parseCidr', async (t) => {
  t.same(parseCidr('10.0.10.21/24'), { address: '10.0.10.21', prefix: 24, netmask: '255.255.255.0', network: '10.0.10.0' });
  t.equal(parseCidr('10.0.10.21/0').netmask, '0.0.0.0');
});

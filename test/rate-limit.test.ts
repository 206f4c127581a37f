import t from 'tap';
import { RateLimiter } from '../server/model/rate-limit.js';

t.test('burst per window per key, table bounded', async (t) => {
  const r = new RateLimiter(2, 1000, 3);
  t.same([r.allow('a', 0), r.allow('a', 10), r.allow('a', 20)], [true, true, false]);
  t.ok(r.allow('b', 30), 'keys are independent');
  t.notOk(r.allow('a', 999));
  t.ok(r.allow('a', 1000), 'new window');
  r.allow('c', 1001);
  t.ok(r.allow('d', 1002), 'past maxKeys the table starts over instead of growing');
  t.ok(r.allow('a', 1003), 'forgotten keys get a fresh budget');
});

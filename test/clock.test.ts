import t from 'tap';
import { monotonicClock } from '../server/model/clock.js';

t.test('the service clock follows the monotonic source, not a stepped wall clock', async (t) => {
  let wall = Date.parse('2026-11-29T10:00:00Z');
  let mono = 5_000.25;
  const clock = monotonicClock(() => wall, () => mono);
  const start = clock.now();
  t.equal(start, wall, 'starts at wall time');
  mono += 60_000;
  wall -= 3_600_000; // NTP steps the wall clock an hour back
  t.equal(clock.now() - start, 60_000, 'a minute later is a minute later');
  mono += 1_000;
  wall += 86_400_000; // and then a day ahead
  t.equal(clock.now() - start, 61_000, 'a deadline 61 s out is due now, not a day early');
});

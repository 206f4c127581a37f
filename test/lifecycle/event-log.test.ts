import pino from 'pino';
import t from 'tap';
import { EventLog } from '../../server/lifecycle/event-log.js';
import { Machine } from '../../server/model/machine.js';
import { AddressBook } from '../../server/reads/address-book.js';
import { Reads } from '../../server/reads/reads.js';
import { openSqliteStore } from '../../server/store/sqlite.js';
import { minimalProfile } from '../helpers/fixtures.js';
import { slowStore } from '../store/fakes/slow-store.js';

/**
 * A burst of protocol events reported by MAC is attributed to machines before it is written. On a
 * store far away (PostgreSQL: each lookup is a round trip), the MACs are looked up side by side,
 * each once per burst, not one event after the other.
 */
t.test('a burst of events by MAC: each MAC looked up once, all at once, each event attributed', async (t) => {
  const inner = await openSqliteStore(':memory:');
  const store = slowStore(inner, 5);
  t.teardown(() => store.close());
  await inner.profiles.put({ ...minimalProfile('p1') } as never);
  const macs = Array.from({ length: 20 }, (_, i) => `52:54:00:00:01:${i.toString(16).padStart(2, '0')}`);
  for (const [i, mac] of macs.entries()) await inner.machines.put(Machine.parse({ name: `m${i}`, profile: 'p1', macs: [mac] }));

  let inFlight = 0;
  let most = 0;
  let lookups = 0;
  const byMac = store.machines.byMac.bind(store.machines);
  store.machines.byMac = async (mac) => {
    lookups++;
    most = Math.max(most, ++inFlight);
    try {
      return await byMac(mac);
    } finally {
      inFlight--;
    }
  };
  const events = new EventLog(store, new Reads(store, new AddressBook()), pino({ level: 'silent' }));
  for (const mac of macs) for (const message of ['DISCOVER', 'REQUEST']) events.report({ mac, ip: `10.0.${macs.indexOf(mac)}.1`, kind: 'dhcp', level: 'info', message });
  events.report({ mac: '52:54:00:ff:ff:ff', kind: 'dhcp', level: 'info', message: 'a stranger' });
  await events.flush();

  t.equal(lookups, 21, 'each MAC once');
  t.equal(most, 21, 'all at once');
  const stored = await inner.events.list({});
  t.equal(stored.length, 41);
  t.same(
    stored.filter((e) => e.mac !== '52:54:00:ff:ff:ff').map((e) => e.machine),
    macs.flatMap((_, i) => [`m${i}`, `m${i}`]),
    'every event of a known MAC carries its machine, in the order reported',
  );
  t.equal(stored.at(-1)!.machine, undefined, "a MAC nobody has stays the stranger's");
});

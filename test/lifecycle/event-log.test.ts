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

/**
 * A state change waits for the events reported before it (their ids come first), and for no
 * others: in a boot storm reports never stop, and a flush that waited for an empty queue waited
 * for every batch written after it was asked.
 */
t.test('flush waits for the events reported before it, not for those that keep coming', async (t) => {
  const inner = await openSqliteStore(':memory:');
  const store = slowStore(inner, 5);
  t.teardown(() => store.close());
  const events = new EventLog(store, new Reads(store, new AddressBook()), pino({ level: 'silent' }));
  const report = (message: string) => events.report({ kind: 'asset', level: 'info', message });

  report('before');
  let n = 0;
  const stream = setInterval(() => report(`after ${n++}`), 1);
  const flushed = await Promise.race([events.flush().then(() => 'flushed'), new Promise((resolve) => setTimeout(() => resolve('timeout'), 300))]);
  const storedAtFlush = (await inner.events.list({})).map((e) => e.message);
  clearInterval(stream);
  t.equal(flushed, 'flushed', 'resolved while reports were still coming');
  t.equal(storedAtFlush[0], 'before', 'the event reported before is stored, first');
  t.ok(n > storedAtFlush.length - 1, `later reports still queued at that moment (${n} reported after, ${storedAtFlush.length - 1} stored)`);

  report('last');
  await events.flush();
  const all = (await inner.events.list({ limit: 10_000 })).map((e) => e.message);
  t.equal(all.length, n + 2, 'every report is stored in the end');
  t.equal(all.at(-1), 'last', 'in the order reported');
});

t.test('a batch the store refuses settles its flush (logged, not waited on forever)', async (t) => {
  const inner = await openSqliteStore(':memory:');
  t.teardown(() => inner.close());
  const broken = { ...inner, events: { ...inner.events, appendMany: async () => Promise.reject(new Error('disk full')) } };
  const events = new EventLog(broken, new Reads(inner, new AddressBook()), pino({ level: 'silent' }));
  events.report({ kind: 'asset', level: 'info', message: 'lost' });
  const flushed = await Promise.race([events.flush().then(() => 'flushed'), new Promise((resolve) => setTimeout(() => resolve('timeout'), 1000))]);
  t.equal(flushed, 'flushed');
});

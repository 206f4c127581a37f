/** Unauthenticated requests cannot fill the event log: per source address, a bounded number is stored. */
import t from 'tap';
import { startTestService } from '../helpers/service.js';

t.test('a flood of unknown-MAC script requests stores a bounded number of events; others are still recorded', async (t) => {
  const { base, svc } = await startTestService(t);
  const statuses = new Set<number>();
  for (let i = 0; i < 1500; i += 50)
    await Promise.all(
      Array.from({ length: 50 }, async (_, j) => {
        const mac = `52:54:00:ff:${((i + j) >> 8).toString(16).padStart(2, '0')}:${((i + j) & 255).toString(16).padStart(2, '0')}`;
        statuses.add((await fetch(`${base}/boot/ipxe?mac=${mac}`)).status);
      }),
    );
  t.same([...statuses], [200], 'every request is still answered');
  await svc.events.flush();
  const stored = (await svc.reads.events({ limit: 100000 })).filter((e) => e.kind === 'ipxe-script');
  t.equal(stored.length, 200, '200 of 1,500 from one address are stored');
  t.equal(svc.events.dropped, 1300, 'the rest are counted');
  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.match(metrics, /^kickstand_events_dropped_total 1300$/m);
  svc.events.report({ ip: '10.9.9.9', kind: 'tftp', level: 'info', message: 'another address' });
  await svc.events.flush();
  t.equal((await svc.reads.events({ limit: 100000 })).filter((e) => e.message === 'another address').length, 1, 'another source is not held back');
});

/** Events do not pile up forever, and progress reads one page of them. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';

const MAC = '52:54:00:e7:00:01';
const clock = () => ({ t: Date.parse('2026-11-01T00:00:00Z'), now() { return this.t; } });

t.test('events older than events.retainDays are deleted; younger ones stay', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ks-retain-'));
  const c = clock();
  {
    const { api, svc } = await startTestService(t, { dataDir, service: { clock: c } });
    await api('POST', '/api/v1/profiles', minimalProfile());
    await api('POST', '/api/v1/machines', { name: 'node-1', profile: 'p1', macs: [MAC] });
    await api('POST', '/api/v1/machines/node-1/reinstall');
    await svc.lifecycle.idle();
    t.ok((await svc.reads.events({ machine: 'node-1' })).length >= 2, 'an install leaves events');
    c.t += 20 * 86_400_000;
    await api('POST', '/api/v1/machines/node-1/cancel');
    await svc.close();
  }
  c.t += 11 * 86_400_000;
  const { svc } = await startTestService(t, { dataDir, config: { events: { retainDays: 30 } }, service: { clock: c } });
  const left = await svc.reads.events({ machine: 'node-1' });
  t.same(left.map((e) => e.data?.to), ['failed'], 'the 31-day-old events went at start, the 11-day-old one stayed');
});

t.test('progress reads the newest page of events of the current install, not all of them', async (t) => {
  const { api, svc } = await startTestService(t);
  await api('POST', '/api/v1/profiles', minimalProfile());
  await api('POST', '/api/v1/machines', { name: 'node-1', profile: 'p1', macs: [MAC] });
  await api('POST', '/api/v1/machines/node-1/reinstall');
  await svc.lifecycle.idle();
  // The first TFTP read moves the install to pxe-booting (a state event of its own): before the rest.
  svc.events.report({ machine: 'node-1', kind: 'tftp', level: 'info', message: 'first read' });
  await svc.lifecycle.idle();
  t.equal((await svc.reads.status('node-1'))?.state, 'pxe-booting');
  for (let i = 0; i < 3000; i++) svc.events.report({ machine: 'node-1', kind: 'tftp', level: 'info', message: `read ${i}` });
  const p = (await api('GET', '/api/v1/machines/node-1/progress?events=5')).json;
  t.same(p.events.map((e: { message: string }) => e.message), ['read 2995', 'read 2996', 'read 2997', 'read 2998', 'read 2999']);
  t.equal(p.lastEvent.message, 'read 2999');
});

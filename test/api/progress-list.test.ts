import t from 'tap';
import { minimalProfile } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';

/** GET /api/v1/progress (every machine at once) and GET /machines/{name}/installs (install history). */

const machine = (name: string, mac: string) => ({ name, profile: 'p1', macs: [mac], bmc: { driver: 'manual' } });

t.test('GET /progress: every machine, its step k of n and its last event, as its own progress says', async (t) => {
  const { api, svc } = await startTestService(t);
  await api('POST', '/api/v1/profiles', minimalProfile('p1'));
  await api('POST', '/api/v1/machines', machine('a-1', '52:54:00:d0:00:01'));
  await api('POST', '/api/v1/machines', { ...machine('a-2', '52:54:00:d0:00:02'), ipv4: { address: '10.0.0.7/24', gateway: '10.0.0.1' } });
  t.equal((await api('POST', '/api/v1/machines/a-2/reinstall')).status, 202);
  // The power cycle runs in the background and writes events: both reads after it.
  await svc.lifecycle.idle();
  await svc.events.flush();
  const list = (await api('GET', '/api/v1/progress')).json;
  t.same(list.map((p: { machine: string }) => p.machine).sort(), ['a-1', 'a-2']);
  const a2 = list.find((p: { machine: string }) => p.machine === 'a-2');
  const { events, ...own } = (await api('GET', '/api/v1/machines/a-2/progress')).json;
  t.same(a2, own, 'the same fields as the machine progress, without the event list');
  t.equal(a2.lastEvent.id, events.at(-1).id, 'the last event is the newest of the install');
  t.match(list.find((p: { machine: string }) => p.machine === 'a-1'), { state: 'registered', step: 0, of: 8 });
  t.notOk('lastEvent' in list.find((p: { machine: string }) => p.machine === 'a-1'), 'no event, no lastEvent');
  t.equal((await api('GET', '/api/v1/machines/a-2')).json.address, '10.0.0.7', 'machines carry where they answer');
  t.equal((await api('GET', '/api/v1/progress', undefined, null)).status, 401, 'operators only');
});

t.test('GET /machines/{name}/installs: newest first, how each ended, a forced reinstall ending the one before', async (t) => {
  const { api } = await startTestService(t);
  await api('POST', '/api/v1/profiles', minimalProfile('p1'));
  await api('POST', '/api/v1/machines', machine('h-1', '52:54:00:d0:01:01'));
  t.same((await api('GET', '/api/v1/machines/h-1/installs')).json, [], 'none yet');
  t.equal((await api('POST', '/api/v1/machines/h-1/reinstall')).status, 202);
  t.equal((await api('POST', '/api/v1/machines/h-1/cancel')).status, 200);
  t.equal((await api('POST', '/api/v1/machines/h-1/reinstall')).status, 202);
  t.equal((await api('POST', '/api/v1/machines/h-1/reinstall?force=true')).status, 202);
  const installs = (await api('GET', '/api/v1/machines/h-1/installs')).json;
  t.equal(installs.length, 3);
  t.match(installs[0], { state: 'power-cycling' }, 'the running one, where it is');
  t.notOk(installs[0].endedAt, 'not ended');
  t.match(installs[1], { state: 'failed', phase: 'power-cycling', reason: 'superseded by a forced reinstall' });
  t.match(installs[2], { state: 'failed', reason: 'cancelled by the operator' });
  t.ok(installs[2].endedAt >= installs[2].startedAt && installs[1].startedAt >= installs[2].endedAt, 'in time order');
  t.equal((await api('GET', '/api/v1/machines/nope/installs')).status, 404);
});
